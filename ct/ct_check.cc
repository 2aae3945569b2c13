// Constant-time check of keyhold's own secret-touching code (docs/assurance.md),
// the ctgrind technique: run under valgrind memcheck with every secret key
// marked undefined (VALGRIND_MAKE_MEM_UNDEFINED). Undefinedness propagates
// through copies and arithmetic, so memcheck reports any conditional jump or
// memory address that depends on a secret -- a timing or cache side channel
// -- with the stack that took it.
//
// What is public, and so declassified (VALGRIND_MAKE_MEM_DEFINED):
//  - outputs handed to the caller (ciphertexts, tags, SIVs, shared-secret
//    checks' verdicts): they are public by definition once returned;
//  - the verdict of a constant-time comparison: CRYPTO_memcmp is wrapped
//    below so its result is defined. Its loop is data-independent (it is
//    OpenSSL's, and its inputs stay undefined inside it, so any branch there
//    would still be reported); what keyhold does with the verdict -- fail or
//    succeed -- is the public result of the operation. libsodium's
//    crypto_verify_16 likewise.
//  - key ids: they travel in every output header (docs/spec/formats.md
//    section 2), so looking a key up by id (Keyset::Usable) may branch on
//    them; the key material behind the id stays undefined and must not be
//    touched by the lookup.
//
// Each check prints how many memcheck reports it added (VALGRIND_COUNT_ERRORS
// counts those not suppressed); the program fails if any did. Reports
// inside the backends (libcrypto, libsodium, intel-ipsec-mb) are left to
// them and suppressed by object in ct/valgrind.supp, each with its reason.
// `kh_ct --control` takes one deliberately secret-dependent branch and must
// be reported: it shows the harness detects what it claims to.
#include <keyhold/keyhold.h>
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "aead/aead.h"
#include "daead/daead.h"
#include "kex/kex.h"
#include "keyset/keyset.h"
#include "mac/mac.h"

// The wrapper of libcrypto's CRYPTO_memcmp (valgrind function wrapping, by
// soname pattern "libcrypto.so*"): calls the real one and declassifies only
// its result.
extern "C" int I_WRAP_SONAME_FNNAME_ZU(libcryptoZdsoZa, CRYPTO_memcmp)(const void* a, const void* b,
                                                                       size_t n) {
  int result = 0;
  OrigFn fn;
  VALGRIND_GET_ORIG_FN(fn);
  CALL_FN_W_WWW(result, fn, a, b, n);
  VALGRIND_MAKE_MEM_DEFINED(&result, sizeof(result));
  return result;
}

// The same for libsodium's crypto_verify_16, the tag comparison inside its
// AEAD and one-time authenticator (libsodium.so*).
extern "C" int I_WRAP_SONAME_FNNAME_ZU(libsodiumZdsoZa, crypto_verify_16)(const unsigned char* x,
                                                                          const unsigned char* y) {
  int result = 0;
  OrigFn fn;
  VALGRIND_GET_ORIG_FN(fn);
  CALL_FN_W_WW(result, fn, x, y);
  VALGRIND_MAKE_MEM_DEFINED(&result, sizeof(result));
  return result;
}

namespace keyhold::ct {
namespace {

using Bytes = std::vector<uint8_t>;

// Secret returns n fixed key bytes marked undefined: from here on memcheck
// treats them, and everything computed from them, as secret.
Bytes Secret(size_t n, uint8_t seed) {
  Bytes k(n);
  for (size_t i = 0; i < n; ++i) k[i] = static_cast<uint8_t>(seed + 31 * i);
  VALGRIND_MAKE_MEM_UNDEFINED(k.data(), k.size());
  return k;
}

// Public declassifies an output the caller receives.
void Public(void* p, size_t n) { VALGRIND_MAKE_MEM_DEFINED(p, n); }

int failures = 0;

// Check runs one named check and reports the memcheck errors it added.
void Check(const char* name, const std::function<bool()>& body) {
  const unsigned before = VALGRIND_COUNT_ERRORS;
  const bool ok = body();
  const unsigned reports = VALGRIND_COUNT_ERRORS - before;
  std::printf("ct: %-58s %s, %u memcheck report(s)\n", name, ok ? "ran" : "FAILED", reports);
  if (!ok || reports != 0) ++failures;
}

const Bytes kMsg = {'m', 'e', 's', 's', 'a', 'g', 'e'};
const Bytes kAad = {'a', 'a', 'd'};

bool MacVerify(kh_alg alg, size_t key_len, size_t tag_len) {
  auto mac = mac::NewHmac(alg, Secret(key_len, 1));
  if (!mac.ok()) return false;
  uint8_t tag[mac::kMaxTagLen];
  if (!(*mac)->Compute({kMsg}, tag).ok()) return false;
  Public(tag, tag_len);
  uint8_t bad[mac::kMaxTagLen];
  std::memcpy(bad, tag, tag_len);
  bad[tag_len - 1] ^= 1;
  return (*mac)->Verify({kMsg}, ByteView(tag, tag_len), tag_len).ok() &&
         (*mac)->Verify({kMsg}, ByteView(tag, 16), 10).ok() &&  // truncated (raw keysets)
         (*mac)->Verify({kMsg}, ByteView(bad, tag_len), tag_len).code() == KH_E_AUTH_FAILED;
}

bool SivEmpty() {
  auto siv = daead::NewAesSiv(Secret(64, 2));
  if (!siv.ok()) return false;
  uint8_t out[daead::kSivLen];
  if (!(*siv)->Encrypt({kAad}, {}, out).ok()) return false;  // S2V over CMAC, keyhold's composition
  Public(out, sizeof(out));
  uint8_t bad[daead::kSivLen];
  std::memcpy(bad, out, sizeof(bad));
  bad[0] ^= 0x80;
  return (*siv)->Decrypt({kAad}, ByteView(out, sizeof(out)), nullptr).ok() &&
         (*siv)->Decrypt({kAad}, ByteView(bad, sizeof(bad)), nullptr).code() == KH_E_AUTH_FAILED;
}

bool SivNonEmpty() {
  auto siv = daead::NewAesSiv(Secret(64, 3));
  if (!siv.ok()) return false;
  Bytes ct(daead::kSivLen + kMsg.size()), pt(kMsg.size());
  if (!(*siv)->Encrypt({kAad}, kMsg, ct.data()).ok()) return false;
  Public(ct.data(), ct.size());
  if (!(*siv)->Decrypt({kAad}, ct, pt.data()).ok()) return false;
  ct.back() ^= 1;
  return (*siv)->Decrypt({kAad}, ct, pt.data()).code() == KH_E_AUTH_FAILED;
}

// AeadTag: seal, then open the output and a tampered copy.
bool AeadTag(StatusOr<std::unique_ptr<aead::Aead>> a, size_t nonce_len) {
  if (!a.ok()) return false;
  const Bytes nonce(nonce_len, 7);
  Bytes ct(kMsg.size() + aead::kTagLen), pt(kMsg.size());
  if (!(*a)->Seal(nonce, kAad, {}, kMsg, ct.data()).ok()) return false;
  Public(ct.data(), ct.size());
  if (!(*a)->Open(nonce, kAad, {}, ct, pt.data()).ok()) return false;
  ct.back() ^= 1;
  return (*a)->Open(nonce, kAad, {}, ct, pt.data()).code() == KH_E_AUTH_FAILED;
}

// KeysetLookup: a managed keyset restored with secret material; decrypting
// finds the key by the (public) id in the header, then runs the AEAD.
bool KeysetLookup() {
  const Bytes key = Secret(32, 4), disabled_key = Secret(32, 5);
  const keyset::Keyset::RestoredKey keys[] = {
      {0x0A0B0C0D, KH_KEY_ENABLED, key, 0},
      {0x01010101, KH_KEY_DISABLED, disabled_key, 0},
      {0x02020202, KH_KEY_DESTROYED, {}, 0},
  };
  auto ks = keyset::Keyset::Restore(KH_ALG_AES256_GCM, 0, keys, 0x0A0B0C0D, 0);
  if (!ks.ok()) return false;
  Bytes ct(6 + 12 + kMsg.size() + 16), pt(kMsg.size());
  size_t n = 0;
  if (!(*ks)->AeadEncrypt(kMsg, kAad, {ct.data(), ct.size(), &n}).ok()) return false;
  Public(ct.data(), ct.size());
  if (!(*ks)->AeadDecrypt(ct, kAad, {pt.data(), pt.size(), &n}).ok()) return false;
  Bytes other = ct;
  other[5] = 0x01, other[4] = 0x01, other[3] = 0x01, other[2] = 0x01;  // the disabled key
  const bool disabled =
      (*ks)->AeadDecrypt(other, kAad, {pt.data(), pt.size(), &n}).code() == KH_E_KEY_DISABLED;
  other[2] = other[3] = other[4] = other[5] = 0x02;  // the destroyed key
  const bool destroyed =
      (*ks)->AeadDecrypt(other, kAad, {pt.data(), pt.size(), &n}).code() == KH_E_KEY_DESTROYED;
  ct.back() ^= 1;
  return disabled && destroyed &&
         (*ks)->AeadDecrypt(ct, kAad, {pt.data(), pt.size(), &n}).code() == KH_E_AUTH_FAILED;
}

// ThroughAbi: the same secrets entering by kh_keyset_import_raw, so the
// boundary (abi.cc) and keyset.cc are on the path.
bool ThroughAbi(kh_handle engine) {
  const Bytes gcm_key = Secret(32, 6), mac_key = Secret(32, 7);
  kh_handle gcm = 0, mac = 0;
  if (kh_keyset_import_raw(engine, KH_ALG_AES256_GCM, gcm_key.data(), gcm_key.size(), &gcm) != KH_OK)
    return false;
  if (kh_keyset_import_raw(engine, KH_ALG_HMAC_SHA256, mac_key.data(), mac_key.size(), &mac) != KH_OK)
    return false;
  uint8_t ct[12 + 7 + 16], pt[7], tag[32];
  size_t n = 0;
  bool ok =
      kh_aead_encrypt(gcm, kMsg.data(), kMsg.size(), kAad.data(), kAad.size(), ct, sizeof(ct), &n) == KH_OK;
  Public(ct, sizeof(ct));
  ok = ok && kh_aead_decrypt(gcm, ct, sizeof(ct), kAad.data(), kAad.size(), pt, sizeof(pt), &n) == KH_OK;
  ct[sizeof(ct) - 1] ^= 1;
  ok = ok &&
       kh_aead_decrypt(gcm, ct, sizeof(ct), kAad.data(), kAad.size(), pt, sizeof(pt), &n) == KH_E_AUTH_FAILED;
  ok = ok && kh_mac_compute(mac, kMsg.data(), kMsg.size(), tag, sizeof(tag), &n) == KH_OK;
  Public(tag, sizeof(tag));
  ok = ok && kh_mac_verify(mac, kMsg.data(), kMsg.size(), tag, sizeof(tag)) == KH_OK;
  tag[0] ^= 1;
  ok = ok && kh_mac_verify(mac, kMsg.data(), kMsg.size(), tag, sizeof(tag)) == KH_E_AUTH_FAILED;
  return kh_handle_close(gcm) == KH_OK && kh_handle_close(mac) == KH_OK && ok;
}

bool X25519ZeroCheck() {
  auto x = kex::NewX25519(Secret(32, 8));
  if (!x.ok()) return false;
  // A valid peer (the base point's u = 9) and a low-order one (u = 0),
  // which gives the all-zero secret the check refuses.
  uint8_t peer[32] = {9}, zero[32] = {0}, out[32];
  return (*x)->Agree(ByteView(peer, 32), out).ok() &&
         (*x)->Agree(ByteView(zero, 32), out).code() == KH_E_INVALID_ARGUMENT;
}

}  // namespace
}  // namespace keyhold::ct

using namespace keyhold;      // NOLINT(google-build-using-namespace)
using namespace keyhold::ct;  // NOLINT(google-build-using-namespace)

int main(int argc, char** argv) {
  if (RUNNING_ON_VALGRIND == 0) {
    std::fprintf(stderr, "kh_ct: run under valgrind (make ct)\n");
    return 2;
  }
  if (argc > 1 && std::string(argv[1]) == "--control") {
    // Deliberately not constant time: must be reported.
    Check("control: branch on a secret byte (must be reported)", [] {
      const Bytes k = Secret(1, 0x42);
      volatile int sink = 0;
      if (k[0] == 0x42) sink = sink + 1;
      return true;
    });
    return 0;
  }
  // The engine first: the self-test runs on public vectors and picks the
  // AEAD backends the factories use.
  kh_handle engine = 0;
  if (kh_engine_open(&engine) != KH_OK) return 2;
  Check("mac::Mac::Verify, HMAC-SHA256 (full, truncated, bad tag)",
        [] { return MacVerify(KH_ALG_HMAC_SHA256, 32, 32); });
  Check("mac::Mac::Verify, HMAC-SHA512", [] { return MacVerify(KH_ALG_HMAC_SHA512, 64, 64); });
  Check("AES-SIV empty plaintext: S2V and SIV compare", SivEmpty);
  Check("AES-SIV non-empty plaintext (OpenSSL SIV)", SivNonEmpty);
  Check("AEAD tag path, AES-256-GCM, OpenSSL (evp_aead.cc)",
        [] { return AeadTag(aead::NewAes256GcmOpenSSL(Secret(32, 9)), 12); });
  Check("AEAD tag path, AES-256-GCM, OpenSSL, 16-byte nonce",
        [] { return AeadTag(aead::NewAes256GcmOpenSSL(Secret(32, 9)), 16); });
  Check("AEAD tag path, ChaCha20-Poly1305, OpenSSL (evp_aead.cc)",
        [] { return AeadTag(aead::NewChaCha20Poly1305OpenSSL(Secret(32, 10)), 12); });
  Check("AEAD tag path, XChaCha20-Poly1305, libsodium",
        [] { return AeadTag(aead::NewXChaCha20Poly1305(Secret(32, 11)), 24); });
  auto mb = aead::NewAes256GcmIpsecMb(Secret(32, 12));
  if (mb.ok()) {
    Check("AEAD tag path, AES-256-GCM, intel-ipsec-mb (ipsec_mb_gcm.cc)",
          [&] { return AeadTag(std::move(mb), 12); });
    Check("AEAD tag path, AES-256-GCM, intel-ipsec-mb, 16-byte nonce",
          [] { return AeadTag(aead::NewAes256GcmIpsecMb(Secret(32, 12)), 16); });
    Check("AEAD tag path, ChaCha20-Poly1305, intel-ipsec-mb",
          [] { return AeadTag(aead::NewChaCha20Poly1305IpsecMb(Secret(32, 13)), 12); });
  } else {
    std::printf("ct: intel-ipsec-mb not usable here (%s): its tag path not checked\n",
                kh_status_name(mb.status().code()));
  }
  Check("keyset: key lookup by (public) id, disabled/destroyed keys", KeysetLookup);
  Check("C ABI: import_raw + aead/mac through abi.cc and keyset.cc", [&] { return ThroughAbi(engine); });
  Check("X25519 all-zero shared-secret check", X25519ZeroCheck);
  (void)kh_engine_close(engine);
  std::printf("ct: %s\n", failures == 0 ? "no secret-dependent branch or index in keyhold's code" : "FAILED");
  return failures == 0 ? 0 : 1;
}
