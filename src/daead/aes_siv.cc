// AES-SIV over OpenSSL's "AES-n-SIV" EVP ciphers. An SIV context cannot be
// reset to a fresh S2V state without re-keying, so each call re-keys a
// pooled context (SIV is not on a hot path; the pool saves the allocation).
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "backend/openssl.h"
#include "daead/daead.h"
#include "secmem/arena.h"

namespace keyhold::daead {
namespace {

class AesSiv final : public Daead {
 public:
  AesSiv(const EVP_CIPHER* cipher, secmem::SecretBytes key)
      : cipher_(cipher),
        key_(std::move(key)),
        pool_([] { return backend::CipherCtxPtr(EVP_CIPHER_CTX_new()); }) {}

  Status Encrypt(std::initializer_list<ByteView> ad, ByteView pt, uint8_t* out) const override {
    return Run(1, ad, pt, out + kSivLen, out);
  }

  Status Decrypt(std::initializer_list<ByteView> ad, ByteView ct, uint8_t* out) const override {
    if (ct.size() < kSivLen) return KH_E_AUTH_FAILED;
    uint8_t siv[kSivLen];
    std::copy(ct.begin(), ct.begin() + kSivLen, siv);
    return Run(0, ad, ct.subspan(kSivLen), out, siv);
  }

 private:
  Status Run(int enc, std::initializer_list<ByteView> ad, ByteView in, uint8_t* out, uint8_t* siv) const {
    if (in.size() > static_cast<size_t>(INT32_MAX)) return KH_E_TOO_LARGE;
    auto lease = pool_.Acquire();
    EVP_CIPHER_CTX* ctx = lease.get();
    if (ctx == nullptr) return KH_E_OUT_OF_MEMORY;
    bool ok = EVP_CipherInit_ex2(ctx, cipher_, key_.data(), nullptr, enc, nullptr) == 1;
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kSivLen, siv) == 1;
    int outl = 0;
    for (ByteView a : ad) {
      if (!ok) break;
      if (a.size() > static_cast<size_t>(INT32_MAX)) {
        backend::ClearErrors();
        return KH_E_TOO_LARGE;
      }
      ok = EVP_CipherUpdate(ctx, nullptr, &outl, a.data(), static_cast<int>(a.size())) == 1;
    }
    if (!ok) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    // OpenSSL treats a NULL output as associated data, so an empty message
    // still needs a non-NULL output pointer.
    uint8_t dummy = 0;
    uint8_t* dst = in.empty() ? &dummy : out;
    bool body =
        EVP_CipherUpdate(ctx, dst, &outl, in.empty() ? &dummy : in.data(), static_cast<int>(in.size())) == 1;
    int fin = 0;
    body = body && EVP_CipherFinal_ex(ctx, &dummy, &fin) == 1;
    if (body && enc) body = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kSivLen, siv) == 1;
    if (!body) {
      backend::ClearErrors();
      if (!in.empty()) OPENSSL_cleanse(out, in.size());
      return enc ? KH_E_INTERNAL : KH_E_AUTH_FAILED;
    }
    return OkStatus();
  }

  const EVP_CIPHER* cipher_;
  secmem::SecretBytes key_;
  mutable backend::CtxPool<EVP_CIPHER_CTX, backend::CipherCtxFree> pool_;
};

}  // namespace

StatusOr<std::unique_ptr<Daead>> NewAesSiv(ByteView key) {
  const auto& f = backend::Fetched();
  const EVP_CIPHER* c = key.size() == 32   ? f.aes128_siv
                        : key.size() == 48 ? f.aes192_siv
                        : key.size() == 64 ? f.aes256_siv
                                           : nullptr;
  if (key.size() != 32 && key.size() != 48 && key.size() != 64) return Status(KH_E_INVALID_ARGUMENT);
  if (c == nullptr) return Status(KH_E_UNSUPPORTED);
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Daead>(new AesSiv(c, std::move(secret)));
}

}  // namespace keyhold::daead
