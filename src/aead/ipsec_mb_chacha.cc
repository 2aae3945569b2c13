// ChaCha20-Poly1305 (RFC 8439) over intel-ipsec-mb (decision 0011): its
// AVX-512 code measured 1.24-1.43x OpenSSL 3.0's from 64 B to 1 MiB on the
// project's machines, byte-identical. Shared plumbing (managers, the
// library's process-wide error report): ipsec_mb.cc.
//
// The library's direct API takes the raw key on every call (ChaCha20 has no
// key schedule), so the key stays in the guarded arena as it is; the
// per-message context (Poly1305 key and state, keystream) is on the stack
// and wiped afterwards. Nonces are 12 bytes, as for the OpenSSL backend.
// The library does not bound the message length; RFC 8439's 2^38 - 64 bytes
// (the 32-bit block counter) is enforced here.
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

constexpr uint64_t kMaxPlaintext = (uint64_t{1} << 38) - 64;  // RFC 8439 section 2.8
constexpr size_t kNonceLen = 12;

class IpsecMbChaChaPoly final : public ipsecmb::OnePassAead {
 public:
  explicit IpsecMbChaChaPoly(secmem::SecretBytes key) : OnePassAead(kMaxPlaintext), key_(std::move(key)) {}

  kh_alg alg() const override { return KH_ALG_CHACHA20_POLY1305; }
  bool NonceLenOk(size_t n) const override { return n == kNonceLen; }

 private:
  // Crypt: init (key, nonce, AAD), one update over in into out (out may
  // equal in.data()), finalize into tag. Every pointer and length the
  // library checks is valid here.
  Status Crypt(IMB_MGR* mgr, bool enc, ByteView nonce, ByteView aad, ByteView in, uint8_t* out,
               uint8_t* tag) const override {
    chacha20_poly1305_context_data ctx;
    // Each call resets the library's error report on entry: check each.
    IMB_CHACHA20_POLY1305_INIT(mgr, key_.data(), &ctx, nonce.data(), aad.data(), aad.size());
    Status s = Check(mgr);
    if (s.ok() && !in.empty()) {
      if (enc) {
        IMB_CHACHA20_POLY1305_ENC_UPDATE(mgr, key_.data(), &ctx, out, in.data(), in.size());
      } else {
        IMB_CHACHA20_POLY1305_DEC_UPDATE(mgr, key_.data(), &ctx, out, in.data(), in.size());
      }
      s = Check(mgr);
    }
    if (s.ok()) {
      // One finalize for both directions (the library's ENC_ and DEC_
      // macros name the same function): it computes the tag.
      IMB_CHACHA20_POLY1305_ENC_FINALIZE(mgr, &ctx, tag, kTagLen);
      s = Check(mgr);
    }
    OPENSSL_cleanse(&ctx, sizeof(ctx));
    return s;
  }

  secmem::SecretBytes key_;
};

}  // namespace

StatusOr<std::unique_ptr<Aead>> NewChaCha20Poly1305IpsecMb(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  IMB_MGR* mgr = nullptr;
  if (Status s = ipsecmb::Manager(&mgr); !s.ok()) return s;
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Aead>(new IpsecMbChaChaPoly(std::move(secret)));
}

}  // namespace keyhold::aead

#endif  // KEYHOLD_HAVE_IPSEC_MB
