#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "backend/openssl.h"
#include "kdf/kdf.h"
#include "secmem/arena.h"

namespace keyhold::kdf {
namespace {

class HkdfImpl final : public Hkdf {
 public:
  HkdfImpl(const char* digest, size_t hash_len, secmem::SecretBytes ikm)
      : digest_(digest), hash_len_(hash_len), ikm_(std::move(ikm)) {}

  size_t max_output() const override { return 255 * hash_len_; }

  Status Derive(ByteView salt, ByteView info, MutableBytes out) const override {
    if (out.empty() || out.size() > max_output()) return KH_E_INVALID_ARGUMENT;
    backend::KdfCtxPtr ctx(EVP_KDF_CTX_new(backend::Fetched().hkdf));
    if (!ctx) {
      backend::ClearErrors();
      return KH_E_OUT_OF_MEMORY;
    }
    // OSSL_PARAM wants non-const pointers; OpenSSL copies, never writes.
    uint8_t empty = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest_), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm_.data()), ikm_.size()),
        OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, salt.empty() ? &empty : const_cast<uint8_t*>(salt.data()), salt.size()),
        OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, info.empty() ? &empty : const_cast<uint8_t*>(info.data()), info.size()),
        OSSL_PARAM_construct_end()};
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
      backend::ClearErrors();
      OPENSSL_cleanse(out.data(), out.size());
      return KH_E_INTERNAL;
    }
    return OkStatus();
  }

 private:
  const char* digest_;
  size_t hash_len_;
  secmem::SecretBytes ikm_;
};

}  // namespace

StatusOr<std::unique_ptr<Hkdf>> NewHkdf(kh_alg alg, ByteView ikm) {
  if (ikm.empty() || ikm.size() > 1024) return Status(KH_E_INVALID_ARGUMENT);
  if (backend::Fetched().hkdf == nullptr) return Status(KH_E_UNSUPPORTED);
  const char* digest = nullptr;
  size_t len = 0;
  switch (alg) {
    case KH_ALG_HKDF_SHA256:
      digest = "SHA256";
      len = 32;
      break;
    case KH_ALG_HKDF_SHA512:
      digest = "SHA512";
      len = 64;
      break;
    default:
      return Status(KH_E_UNSUPPORTED);
  }
  auto secret = secmem::SecretBytes::CopyOf(ikm);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Hkdf>(new HkdfImpl(digest, len, std::move(secret)));
}

}  // namespace keyhold::kdf
