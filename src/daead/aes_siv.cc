// AES-SIV over OpenSSL's "AES-n-SIV" EVP ciphers. An SIV context cannot be
// reset to a fresh S2V state without re-keying, so each call re-keys a
// pooled context (SIV is not on a hot path; the pool saves the allocation).
//
// OpenSSL 3.0's SIV provider ignores an empty plaintext, so it never runs
// S2V and its final call fails (docs/decisions/0006-aes-siv-empty-plaintext.md).
// For that one case the SIV is computed here with RFC 5297's S2V over
// OpenSSL's CMAC; the ciphertext is empty, so no CTR step is needed.
#include <openssl/core_names.h>
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
    if (pt.empty()) return S2vEmpty(ad, out);
    return Run(1, ad, pt, out + kSivLen, out);
  }

  Status Decrypt(std::initializer_list<ByteView> ad, ByteView ct, uint8_t* out) const override {
    if (ct.size() < kSivLen) return KH_E_AUTH_FAILED;
    uint8_t siv[kSivLen];
    std::copy(ct.begin(), ct.begin() + kSivLen, siv);
    if (ct.size() == kSivLen) {
      uint8_t expected[kSivLen];
      KH_RETURN_IF_ERROR(S2vEmpty(ad, expected));
      return CRYPTO_memcmp(expected, siv, kSivLen) == 0 ? OkStatus() : Status(KH_E_AUTH_FAILED);
    }
    return Run(0, ad, ct.subspan(kSivLen), out, siv);
  }

 private:
  // Dbl is doubling in GF(2^128) (RFC 5297 section 2.3), constant time.
  static void Dbl(uint8_t b[16]) {
    const uint8_t carry = static_cast<uint8_t>(-(b[0] >> 7));
    for (int i = 0; i < 15; ++i) b[i] = static_cast<uint8_t>((b[i] << 1) | (b[i + 1] >> 7));
    b[15] = static_cast<uint8_t>((b[15] << 1) ^ (carry & 0x87));
  }

  Status Cmac(ByteView msg, uint8_t out[16]) const {
    static const char* const kCbc[] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
    const size_t k1 = key_.size() / 2;
    char* cipher = const_cast<char*>(kCbc[(k1 - 16) / 8]);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
                           OSSL_PARAM_construct_end()};
    backend::MacCtxPtr ctx(EVP_MAC_CTX_new(backend::Fetched().cmac));
    size_t n = 0;
    if (!ctx || EVP_MAC_init(ctx.get(), key_.data(), k1, params) != 1 ||
        (!msg.empty() && EVP_MAC_update(ctx.get(), msg.data(), msg.size()) != 1) ||
        EVP_MAC_final(ctx.get(), out, &n, 16) != 1 || n != 16) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    return OkStatus();
  }

  // S2vEmpty: S2V(K1, ad..., "") -- the SIV of an empty plaintext.
  Status S2vEmpty(std::initializer_list<ByteView> ad, uint8_t v[kSivLen]) const {
    static const uint8_t kZero[16] = {0};
    uint8_t d[16], t[16];
    KH_RETURN_IF_ERROR(Cmac(ByteView(kZero, 16), d));
    for (ByteView a : ad) {
      KH_RETURN_IF_ERROR(Cmac(a, t));
      Dbl(d);
      for (int i = 0; i < 16; ++i) d[i] ^= t[i];
    }
    Dbl(d);
    d[0] ^= 0x80;  // pad("") = 10^127
    return Cmac(ByteView(d, 16), v);
  }

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
      // A NULL input means "final" to OpenSSL: an empty component needs a
      // non-NULL pointer to count as one (RFC 5297 keeps empty components).
      static const uint8_t kEmpty = 0;
      ok = EVP_CipherUpdate(ctx, nullptr, &outl, a.empty() ? &kEmpty : a.data(),
                            static_cast<int>(a.size())) == 1;
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
