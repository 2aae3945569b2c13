// XChaCha20-Poly1305 over libsodium (OpenSSL 3.0 has no XChaCha). libsodium
// verifies the tag before it decrypts, so no plaintext exists on failure.
#include <openssl/crypto.h>
#include <sodium.h>

#include <vector>

#include "aead/aead.h"
#include "secmem/arena.h"

namespace keyhold::aead {
namespace {

class XChaCha20Poly1305 final : public Aead {
 public:
  explicit XChaCha20Poly1305(secmem::SecretBytes key) : key_(std::move(key)) {}
  kh_alg alg() const override { return KH_ALG_XCHACHA20_POLY1305; }
  bool NonceLenOk(size_t n) const override { return n == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES; }

  Status Seal(ByteView nonce, ByteView aad1, ByteView aad2, ByteView pt, uint8_t* out) const override {
    if (!NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
    return WithAad(aad1, aad2, [&](const uint8_t* ad, size_t ad_len) -> Status {
      unsigned long long tag_len = 0;
      crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out, out + pt.size(), &tag_len, pt.data(),
                                                          pt.size(), ad, ad_len, nullptr, nonce.data(),
                                                          key_.data());
      return OkStatus();
    });
  }

  Status Open(ByteView nonce, ByteView aad1, ByteView aad2, ByteView ct_tag, uint8_t* out) const override {
    if (!NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
    if (ct_tag.size() < kTagLen) return KH_E_AUTH_FAILED;
    const size_t n = ct_tag.size() - kTagLen;
    return WithAad(aad1, aad2, [&](const uint8_t* ad, size_t ad_len) -> Status {
      if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, nullptr, ct_tag.data(), n,
                                                              ct_tag.data() + n, ad, ad_len, nonce.data(),
                                                              key_.data()) != 0) {
        if (n > 0) OPENSSL_cleanse(out, n);
        return KH_E_AUTH_FAILED;
      }
      return OkStatus();
    });
  }

 private:
  // libsodium takes one associated-data buffer: join aad1 || aad2 (on the
  // stack when small; the header is 6 bytes).
  template <typename F>
  static Status WithAad(ByteView aad1, ByteView aad2, F&& f) {
    if (aad1.empty()) return f(aad2.data(), aad2.size());
    uint8_t small[256];
    std::vector<uint8_t> big;
    uint8_t* buf = small;
    const size_t n = aad1.size() + aad2.size();
    if (n > sizeof(small)) {
      big.resize(n);
      buf = big.data();
    }
    std::copy(aad1.begin(), aad1.end(), buf);
    std::copy(aad2.begin(), aad2.end(), buf + aad1.size());
    return f(buf, n);
  }

  secmem::SecretBytes key_;
};

}  // namespace

StatusOr<std::unique_ptr<Aead>> NewXChaCha20Poly1305(ByteView key) {
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) return Status(KH_E_INVALID_ARGUMENT);
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Aead>(new XChaCha20Poly1305(std::move(secret)));
}

}  // namespace keyhold::aead
