// HMAC over OpenSSL EVP_MAC: the MAC is fetched once, each key keeps a pool
// of keyed contexts, and a message re-initialises with the stored key
// (EVP_MAC_init with a NULL key), which skips re-hashing the key.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "backend/openssl.h"
#include "mac/mac.h"
#include "secmem/arena.h"

namespace keyhold::mac {
namespace {

class Hmac final : public Mac {
 public:
  Hmac(const char* digest, size_t tag_len, secmem::SecretBytes key)
      : digest_(digest), tag_len_(tag_len), key_(std::move(key)), pool_([this] { return NewCtx(); }) {}

  size_t tag_len() const override { return tag_len_; }

  Status Compute(std::initializer_list<ByteView> parts, uint8_t* tag) const override {
    auto lease = pool_.Acquire();
    EVP_MAC_CTX* ctx = lease.get();
    if (ctx == nullptr) {
      backend::ClearErrors();
      return KH_E_OUT_OF_MEMORY;
    }
    bool ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1;
    for (ByteView p : parts) {
      if (ok && !p.empty()) ok = EVP_MAC_update(ctx, p.data(), p.size()) == 1;
    }
    size_t n = 0;
    ok = ok && EVP_MAC_final(ctx, tag, &n, tag_len_) == 1 && n == tag_len_;
    if (!ok) {
      backend::ClearErrors();
      OPENSSL_cleanse(tag, tag_len_);
      return KH_E_INTERNAL;
    }
    return OkStatus();
  }

 private:
  backend::MacCtxPtr NewCtx() const {
    backend::MacCtxPtr ctx(EVP_MAC_CTX_new(backend::Fetched().hmac));
    if (!ctx) return nullptr;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_), 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx.get(), key_.data(), key_.size(), params) != 1) return nullptr;
    return ctx;
  }

  const char* digest_;
  size_t tag_len_;
  secmem::SecretBytes key_;
  mutable backend::CtxPool<EVP_MAC_CTX, backend::MacCtxFree> pool_;
};

}  // namespace

Status Mac::Verify(std::initializer_list<ByteView> parts, ByteView tag, size_t min_len) const {
  if (tag.size() < min_len || tag.size() > tag_len()) return KH_E_AUTH_FAILED;
  uint8_t expected[kMaxTagLen];
  KH_RETURN_IF_ERROR(Compute(parts, expected));
  const bool equal = CRYPTO_memcmp(expected, tag.data(), tag.size()) == 0;
  OPENSSL_cleanse(expected, sizeof(expected));
  return equal ? OkStatus() : Status(KH_E_AUTH_FAILED);
}

StatusOr<std::unique_ptr<Mac>> NewHmac(kh_alg alg, ByteView key) {
  if (key.empty() || key.size() > 1024) return Status(KH_E_INVALID_ARGUMENT);
  if (backend::Fetched().hmac == nullptr) return Status(KH_E_UNSUPPORTED);
  const char* digest = nullptr;
  size_t len = 0;
  switch (alg) {
    case KH_ALG_HMAC_SHA256:
      digest = "SHA256";
      len = 32;
      break;
    case KH_ALG_HMAC_SHA512:
      digest = "SHA512";
      len = 64;
      break;
    default:
      return Status(KH_E_UNSUPPORTED);
  }
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Mac>(new Hmac(digest, len, std::move(secret)));
}

}  // namespace keyhold::mac
