// Intel's Multi-Buffer Crypto library (intel-ipsec-mb 1.3, Debian's
// libipsec-mb-dev) as an AEAD backend: the probe, the per-thread managers
// and the error check shared by ipsec_mb_gcm.cc and ipsec_mb_chacha.cc
// (decision 0011).
//
// One manager (IMB_MGR) per thread, all of the one architecture the process
// probed first: AES-GCM key data only works with the manager type that made
// it. The direct AEAD calls only read the manager's function pointers, so
// keys are shared across threads freely.
//
// Process-wide state found in the library (disassembly of 1.3; ThreadSanitizer
// cannot see it, the library is not instrumented; the test
// AesGcmIpsecMb.LibraryErrorReportIsProcessWide pins it down), and how this
// code lives with it:
//  - imb_errno is one plain global, not per thread. Every direct GCM and
//    ChaCha20-Poly1305 call stores 0 there on entry and its parameter error
//    on exit; the manager's own error field is never written by them, and
//    imb_get_errno(mgr) falls back to the global when that field is 0. So a
//    thread can read another thread's error, or have its own erased. The
//    backends therefore validate every parameter the library checks before
//    calling it (the library then never fails), and still read
//    imb_get_errno after every call as a backstop that fails closed.
//  - cpu_feature_detect() caches CPUID results in static variables and
//    init_mb_mgr_*() writes the global imb_errno: manager creation is
//    serialized under one mutex.
#include <mutex>
#include <new>

#include "aead/aead.h"
#include "aead/backends.h"

#if KEYHOLD_HAVE_IPSEC_MB
#include <openssl/crypto.h>

#include <cstring>

#include "aead/ipsec_mb_internal.h"
#endif

namespace keyhold::aead {

#if KEYHOLD_HAVE_IPSEC_MB

namespace {

std::mutex& ManagerMutex() {
  static std::mutex* mu = new std::mutex();  // leaked: threads may exit late
  return *mu;
}

// The process's manager architecture, written once by the probe (before
// ProbeIpsecMb() returns to anyone).
IMB_ARCH g_arch = IMB_ARCH_NONE;

const char* ArchName(IMB_ARCH arch) {
  switch (arch) {
    case IMB_ARCH_SSE:
      return "sse";
    case IMB_ARCH_AVX:
      return "avx";
    case IMB_ARCH_AVX2:
      return "avx2";
    case IMB_ARCH_AVX512:
      return "avx512";
    default:
      return "";
  }
}

// InitManager sets m up for arch explicitly, so every thread gets the type
// the probe chose.
void InitManager(IMB_MGR* m, IMB_ARCH arch) {
  switch (arch) {
    case IMB_ARCH_SSE:
      init_mb_mgr_sse(m);
      break;
    case IMB_ARCH_AVX:
      init_mb_mgr_avx(m);
      break;
    case IMB_ARCH_AVX2:
      init_mb_mgr_avx2(m);
      break;
    case IMB_ARCH_AVX512:
      init_mb_mgr_avx512(m);
      break;
    default:
      break;
  }
}

IpsecMbInfo Probe() {
  IpsecMbInfo info{false, "", false, ""};
  std::lock_guard<std::mutex> lock(ManagerMutex());
  IMB_MGR* m = alloc_mb_mgr(0);
  if (m == nullptr) {
    info.unavailable_reason = "out of memory while probing intel-ipsec-mb";
    return info;
  }
  constexpr uint64_t kNeeded = IMB_FEATURE_AESNI | IMB_FEATURE_PCLMULQDQ;
  if ((m->features & kNeeded) != kNeeded) {
    free_mb_mgr(m);
    info.unavailable_reason = "CPU lacks AES-NI or PCLMULQDQ";
    return info;
  }
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(m, &arch);
  // Reliable here: manager initialisation sets the manager's own field
  // (including IMB_ERR_SELFTEST when the library's self-test fails).
  const int err = imb_get_errno(m);
  const uint64_t features = m->features;
  free_mb_mgr(m);
  if (err != 0) {
    info.unavailable_reason = "intel-ipsec-mb manager initialisation failed";
    return info;
  }
  if (ArchName(arch)[0] == '\0') {
    info.unavailable_reason = "intel-ipsec-mb has no AES-NI manager for this CPU";
    return info;
  }
  constexpr uint64_t kVaes = IMB_FEATURE_VAES | IMB_FEATURE_VPCLMULQDQ;
  g_arch = arch;
  info.available = true;
  info.arch = ArchName(arch);
  info.vaes = arch == IMB_ARCH_AVX512 && (features & kVaes) == kVaes;
  return info;
}

// ThreadManager frees this thread's manager when the thread exits.
struct ThreadManager {
  IMB_MGR* mgr = nullptr;
  ThreadManager() = default;
  ThreadManager(const ThreadManager&) = delete;
  ThreadManager& operator=(const ThreadManager&) = delete;
  ~ThreadManager() {
    if (mgr != nullptr) free_mb_mgr(mgr);
  }
};

}  // namespace

namespace ipsecmb {

Status Manager(IMB_MGR** out) {
  thread_local ThreadManager tm;
  if (tm.mgr == nullptr) {
    if (!ProbeIpsecMb().available) return KH_E_UNSUPPORTED;  // also orders the read of g_arch
    std::lock_guard<std::mutex> lock(ManagerMutex());
    IMB_MGR* m = alloc_mb_mgr(0);
    if (m == nullptr) return KH_E_OUT_OF_MEMORY;
    InitManager(m, g_arch);
    if (imb_get_errno(m) != 0) {
      free_mb_mgr(m);
      return KH_E_INTERNAL;
    }
    tm.mgr = m;
  }
  *out = tm.mgr;
  return OkStatus();
}

Status Check(IMB_MGR* mgr) { return imb_get_errno(mgr) == 0 ? OkStatus() : Status(KH_E_INTERNAL); }

Status OnePassAead::Run(bool enc, ByteView nonce, ByteView aad1, ByteView aad2, ByteView in, uint8_t* out,
                        uint8_t* tag) const {
  IMB_MGR* mgr = nullptr;
  KH_RETURN_IF_ERROR(Manager(&mgr));
  JoinedAad joined(aad1, aad2);
  KH_RETURN_IF_ERROR(joined.status());
  return Crypt(mgr, enc, nonce, joined.view(), in, out, tag);
}

Status OnePassAead::Seal(ByteView nonce, ByteView aad1, ByteView aad2, ByteView pt, uint8_t* out) const {
  if (!NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
  if (pt.size() > max_plaintext_) return KH_E_TOO_LARGE;
  if (out == nullptr) return KH_E_INTERNAL;
  Status s = Run(true, nonce, aad1, aad2, pt, out, out + pt.size());
  if (!s.ok()) OPENSSL_cleanse(out, pt.size() + kTagLen);
  return s;
}

Status OnePassAead::Open(ByteView nonce, ByteView aad1, ByteView aad2, ByteView ct_tag, uint8_t* out) const {
  if (ct_tag.size() < kTagLen) return KH_E_AUTH_FAILED;
  const size_t n = ct_tag.size() - kTagLen;
  // Refused before anything is written (as the OpenSSL backend does).
  if (!NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
  if (n > max_plaintext_) return KH_E_TOO_LARGE;
  if (n != 0 && out == nullptr) return KH_E_INTERNAL;
  // Copy the tag first: out may equal the ciphertext (in place).
  uint8_t tag[kTagLen];
  std::memcpy(tag, ct_tag.data() + n, kTagLen);
  uint8_t computed[kTagLen];
  // The plaintext goes straight to the caller's buffer and is wiped there
  // unless the tag verifies: it is never returned before.
  Status s = Run(false, nonce, aad1, aad2, ct_tag.first(n), out, computed);
  if (s.ok() && CRYPTO_memcmp(computed, tag, kTagLen) != 0) s = KH_E_AUTH_FAILED;
  // The computed tag is a valid tag for the caller's ciphertext: never
  // leave it behind.
  OPENSSL_cleanse(computed, sizeof(computed));
  if (!s.ok() && n != 0) OPENSSL_cleanse(out, n);
  return s;
}

JoinedAad::JoinedAad(ByteView a1, ByteView a2) {
  if (a1.empty() || a2.empty()) {
    view_ = a1.empty() ? a2 : a1;
    return;
  }
  if (a2.size() > SIZE_MAX - a1.size()) {
    status_ = KH_E_TOO_LARGE;
    return;
  }
  const size_t n = a1.size() + a2.size();
  uint8_t* p = stack_;
  if (n > sizeof(stack_)) {
    heap_.reset(new (std::nothrow) uint8_t[n]);
    p = heap_.get();
    if (p == nullptr) {
      status_ = KH_E_OUT_OF_MEMORY;
      return;
    }
  }
  std::memcpy(p, a1.data(), a1.size());
  std::memcpy(p + a1.size(), a2.data(), a2.size());
  view_ = ByteView(p, n);
}

}  // namespace ipsecmb

const IpsecMbInfo& ProbeIpsecMb() {
  static const IpsecMbInfo info = Probe();
  return info;
}

const char* IpsecMbVersion() { return imb_get_version_str(); }

#else  // !KEYHOLD_HAVE_IPSEC_MB

const IpsecMbInfo& ProbeIpsecMb() {
  static const IpsecMbInfo info{false, "", false, "built without intel-ipsec-mb (not x86-64)"};
  return info;
}

const char* IpsecMbVersion() { return ""; }

StatusOr<std::unique_ptr<Aead> > NewAes256GcmIpsecMb(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  return Status(KH_E_UNSUPPORTED);
}

StatusOr<std::unique_ptr<Aead> > NewChaCha20Poly1305IpsecMb(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  return Status(KH_E_UNSUPPORTED);
}

#endif  // KEYHOLD_HAVE_IPSEC_MB

}  // namespace keyhold::aead
