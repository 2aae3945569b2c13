// X25519 over OpenSSL (faster than libsodium here, BASELINES.md). The
// private EVP_PKEY is built once per key; each agreement builds the peer
// key and a derive context.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "backend/openssl.h"
#include "kex/kex.h"

namespace keyhold::kex {
namespace {

class X25519Impl final : public X25519 {
 public:
  explicit X25519Impl(backend::PkeyPtr pkey) : pkey_(std::move(pkey)) {}

  Status Agree(ByteView peer, uint8_t out[32]) const override {
    if (peer.size() != 32) return KH_E_INVALID_ARGUMENT;
    backend::PkeyPtr peer_key(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
    backend::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
    size_t n = 32;
    if (!peer_key || !ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer_ex(ctx.get(), peer_key.get(), 0) != 1 ||
        EVP_PKEY_derive(ctx.get(), out, &n) != 1 || n != 32) {
      backend::ClearErrors();
      OPENSSL_cleanse(out, 32);
      return KH_E_INVALID_ARGUMENT;
    }
    // A low-order peer point gives all zeros (RFC 7748 section 6.1).
    static const uint8_t kZero[32] = {0};
    if (CRYPTO_memcmp(out, kZero, 32) == 0) return KH_E_INVALID_ARGUMENT;
    return OkStatus();
  }

  void PublicKey(uint8_t out[32]) const override {
    size_t n = 32;
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), out, &n) != 1) backend::ClearErrors();
  }

 private:
  backend::PkeyPtr pkey_;
};

}  // namespace

StatusOr<std::unique_ptr<X25519>> NewX25519(ByteView private_key) {
  if (private_key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  backend::PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(), private_key.size()));
  if (!pkey) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  return std::unique_ptr<X25519>(new X25519Impl(std::move(pkey)));
}

}  // namespace keyhold::kex
