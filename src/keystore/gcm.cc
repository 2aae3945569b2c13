#include "keystore/gcm.h"

#include <climits>

namespace keyhold::keystore {
namespace {

StatusOr<backend::CipherCtxPtr> Begin(bool encrypt, ByteView key, ByteView nonce, ByteView aad) {
  if (key.size() != kGcmKeyLen || nonce.size() != kGcmNonceLen || aad.size() > INT_MAX) {
    return Status(KH_E_INTERNAL);
  }
  const EVP_CIPHER* cipher = backend::Fetched().aes256_gcm;
  backend::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || cipher == nullptr ||
      EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nonce.data(), encrypt ? 1 : 0, nullptr) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  int n = 0;
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  return ctx;
}

}  // namespace

StatusOr<Gcm> Gcm::Seal(ByteView key, ByteView nonce, ByteView aad) {
  auto ctx = Begin(true, key, nonce, aad);
  if (!ctx.ok()) return ctx.status();
  Gcm g(std::move(ctx).value());
  g.encrypt_ = true;
  return g;
}

StatusOr<Gcm> Gcm::Open(ByteView key, ByteView nonce, ByteView aad) {
  auto ctx = Begin(false, key, nonce, aad);
  if (!ctx.ok()) return ctx.status();
  return Gcm(std::move(ctx).value());
}

Status Gcm::Update(ByteView in, uint8_t* out) {
  if (in.empty()) return OkStatus();
  int n = 0;
  if (in.size() > INT_MAX ||
      EVP_CipherUpdate(ctx_.get(), out, &n, in.data(), static_cast<int>(in.size())) != 1 ||
      static_cast<size_t>(n) != in.size()) {
    backend::ClearErrors();
    return KH_E_INTERNAL;
  }
  return OkStatus();
}

Status Gcm::FinishSeal(uint8_t* tag) {
  int n = 0;
  uint8_t none[1];
  if (!encrypt_ || EVP_CipherFinal_ex(ctx_.get(), none, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagLen), tag) != 1) {
    backend::ClearErrors();
    return KH_E_INTERNAL;
  }
  return OkStatus();
}

Status Gcm::FinishOpen(ByteView tag) {
  if (encrypt_ || tag.size() != kGcmTagLen) return KH_E_INTERNAL;
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer but only reads it.
  uint8_t t[kGcmTagLen];
  for (size_t i = 0; i < kGcmTagLen; ++i) t[i] = tag[i];
  int n = 0;
  uint8_t none[1];
  if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagLen), t) != 1) {
    backend::ClearErrors();
    return KH_E_INTERNAL;
  }
  if (EVP_CipherFinal_ex(ctx_.get(), none, &n) != 1) {
    backend::ClearErrors();
    return KH_E_AUTH_FAILED;
  }
  return OkStatus();
}

}  // namespace keyhold::keystore
