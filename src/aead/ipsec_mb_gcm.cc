// AES-256-GCM over intel-ipsec-mb (decision 0011): its VAES/AVX-512 code
// runs ~4x faster than OpenSSL 3.0 at every size on the project's machines
// (BASELINES.md), with byte-identical output. Shared plumbing (managers,
// the library's process-wide error report): ipsec_mb.cc.
//
//  - Per key: the library's precomputed key data (struct gcm_key_data: the
//    AES round keys and the GHASH key powers), made once in the guarded
//    arena (it is key material). It only works with the manager type that
//    made it; every manager in the process has the same type.
//  - Per message: the GCM context (struct gcm_context_data) on the stack,
//    wiped afterwards (it holds GHASH state and keystream).
//  - Nonces: 12 bytes take the one-shot IMB_AES256_GCM_ENC/DEC; 1..128
//    bytes (OpenSSL's range, which raw keysets expose) take init_var_iv +
//    update + finalize on the same key data, so a key never needs two
//    backends.
//  - Lengths: the library compares the message length in bytes with
//    2^39 - 257, GCM's limit in bits, so it would accept 8x too much. The
//    limit of SP 800-38D, 2^36 - 32 bytes, is enforced here (KH_MAX_INPUT_LEN,
//    2^32, is below it anyway).
#if KEYHOLD_HAVE_IPSEC_MB

#include <openssl/crypto.h>

#include <cstring>
#include <memory>

#include "aead/aead.h"
#include "aead/ipsec_mb_internal.h"
#include "secmem/arena.h"

namespace keyhold::aead {
namespace {

using ipsecmb::Check;
using ipsecmb::JoinedAad;

// The header declares gcm_key_data 64-byte aligned only when LINUX is
// defined; the assembly needs the alignment regardless, so it is done here.
constexpr size_t kKeyDataAlign = 64;
constexpr size_t kKeyDataBlock = sizeof(gcm_key_data) + kKeyDataAlign - 1;
static_assert(kKeyDataBlock <= secmem::kMaxAllocation, "key data must fit one arena allocation");

constexpr uint64_t kMaxPlaintext = (uint64_t{1} << 36) - 32;  // SP 800-38D section 5.2.1.1
constexpr size_t kMinNonce = 1;
constexpr size_t kMaxNonce = 128;
constexpr size_t kOneShotNonce = IMB_GCM_IV_DATA_LEN;  // 12

class IpsecMbGcm final : public ipsecmb::OnePassAead {
 public:
  IpsecMbGcm(secmem::SecretBytes block, const gcm_key_data* key)
      : OnePassAead(kMaxPlaintext), block_(std::move(block)), key_(key) {}

  kh_alg alg() const override { return KH_ALG_AES256_GCM; }
  bool NonceLenOk(size_t n) const override { return n >= kMinNonce && n <= kMaxNonce; }

 private:
  // Crypt runs one GCM pass over in into out (same length; out may equal
  // in.data()) and writes the 16-byte tag. Every pointer and length the
  // library checks is valid here (empty spans may be null: the library
  // only checks a pointer whose length is non-zero).
  Status Crypt(IMB_MGR* mgr, bool enc, ByteView nonce, ByteView aad, ByteView in, uint8_t* out,
               uint8_t* tag) const override {
    gcm_context_data ctx;
    Status s;
    if (nonce.size() == kOneShotNonce) {
      if (enc) {
        IMB_AES256_GCM_ENC(mgr, key_, &ctx, out, in.data(), in.size(), nonce.data(), aad.data(), aad.size(),
                           tag, kTagLen);
      } else {
        IMB_AES256_GCM_DEC(mgr, key_, &ctx, out, in.data(), in.size(), nonce.data(), aad.data(), aad.size(),
                           tag, kTagLen);
      }
      s = Check(mgr);
    } else {
      // Each call resets the library's error report on entry: check each.
      IMB_AES256_GCM_INIT_VAR_IV(mgr, key_, &ctx, nonce.data(), nonce.size(), aad.data(), aad.size());
      s = Check(mgr);
      if (s.ok() && !in.empty()) {
        if (enc) {
          IMB_AES256_GCM_ENC_UPDATE(mgr, key_, &ctx, out, in.data(), in.size());
        } else {
          IMB_AES256_GCM_DEC_UPDATE(mgr, key_, &ctx, out, in.data(), in.size());
        }
        s = Check(mgr);
      }
      if (s.ok()) {
        if (enc) {
          IMB_AES256_GCM_ENC_FINALIZE(mgr, key_, &ctx, tag, kTagLen);
        } else {
          IMB_AES256_GCM_DEC_FINALIZE(mgr, key_, &ctx, tag, kTagLen);
        }
        s = Check(mgr);
      }
    }
    OPENSSL_cleanse(&ctx, sizeof(ctx));
    return s;
  }

  secmem::SecretBytes block_;  // owns the arena block key_ points into
  const gcm_key_data* key_;
};

}  // namespace

StatusOr<std::unique_ptr<Aead>> NewAes256GcmIpsecMb(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  IMB_MGR* mgr = nullptr;
  if (Status s = ipsecmb::Manager(&mgr); !s.ok()) return s;
  // The arena hands out 32-byte-aligned blocks: over-allocate and align
  // inside the block.
  auto block = secmem::SecretBytes::Create(kKeyDataBlock);
  if (!block.ok()) return Status(KH_E_OUT_OF_MEMORY);
  void* p = block.data();
  size_t space = block.size();
  if (std::align(kKeyDataAlign, sizeof(gcm_key_data), p, space) == nullptr) return Status(KH_E_INTERNAL);
  auto* kd = static_cast<gcm_key_data*>(p);
  IMB_AES256_GCM_PRE(mgr, key.data(), kd);
  if (Status s = Check(mgr); !s.ok()) return s;  // the block is wiped on return
  return std::unique_ptr<Aead>(new IpsecMbGcm(std::move(block), kd));
}

}  // namespace keyhold::aead

#endif  // KEYHOLD_HAVE_IPSEC_MB
