#include "aead/evp_aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include <climits>

namespace keyhold::aead {
namespace {

// EVP takes int lengths; feed large inputs in chunks of this size.
constexpr size_t kChunk = size_t{1} << 30;

bool UpdateAad(EVP_CIPHER_CTX* ctx, ByteView aad) {
  for (size_t off = 0; off < aad.size(); off += kChunk) {
    const size_t n = std::min(kChunk, aad.size() - off);
    int outl = 0;
    if (EVP_CipherUpdate(ctx, nullptr, &outl, aad.data() + off, static_cast<int>(n)) != 1) return false;
  }
  return true;
}

}  // namespace

EvpAead::EvpAead(kh_alg alg, const EVP_CIPHER* cipher, secmem::SecretBytes key, size_t default_nonce_len,
                 size_t min_nonce, size_t max_nonce)
    : alg_(alg),
      cipher_(cipher),
      key_(std::move(key)),
      default_nonce_(default_nonce_len),
      min_nonce_(min_nonce),
      max_nonce_(max_nonce),
      enc_pool_([this] { return NewCtx(1, default_nonce_); }),
      dec_pool_([this] { return NewCtx(0, default_nonce_); }) {}

backend::CipherCtxPtr EvpAead::NewCtx(int enc, size_t nonce_len) const {
  backend::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return nullptr;
  if (EVP_CipherInit_ex2(ctx.get(), cipher_, nullptr, nullptr, enc, nullptr) != 1) return nullptr;
  if (nonce_len != default_nonce_ &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(nonce_len), nullptr) != 1) {
    return nullptr;
  }
  if (EVP_CipherInit_ex2(ctx.get(), nullptr, key_.data(), nullptr, enc, nullptr) != 1) return nullptr;
  return ctx;
}

Status EvpAead::Run(int enc, ByteView nonce, ByteView aad1, ByteView aad2, ByteView in, uint8_t* out,
                    uint8_t* tag) const {
  if (!NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
  auto& pool = enc ? enc_pool_ : dec_pool_;
  // Non-default nonce lengths (AES-GCM raw keysets only) take a one-off
  // context; the pooled ones stay set up for the common length.
  auto lease = nonce.size() == default_nonce_ ? pool.Acquire() : pool.Adopt(NewCtx(enc, nonce.size()));
  EVP_CIPHER_CTX* ctx = lease.get();
  if (ctx == nullptr) {
    backend::ClearErrors();
    return KH_E_OUT_OF_MEMORY;
  }
  bool ok = EVP_CipherInit_ex2(ctx, nullptr, nullptr, nonce.data(), enc, nullptr) == 1 &&
            UpdateAad(ctx, aad1) && UpdateAad(ctx, aad2);
  if (ok && !enc) {
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagLen), tag) == 1;
  }
  for (size_t off = 0; ok && off < in.size(); off += kChunk) {
    const size_t n = std::min(kChunk, in.size() - off);
    int outl = 0;
    ok = EVP_CipherUpdate(ctx, out + off, &outl, in.data() + off, static_cast<int>(n)) == 1 &&
         static_cast<size_t>(outl) == n;
  }
  if (!ok) {
    backend::ClearErrors();
    if (!in.empty()) OPENSSL_cleanse(out, in.size());
    return KH_E_INTERNAL;
  }
  int final_len = 0;
  uint8_t scratch[16];
  if (EVP_CipherFinal_ex(ctx, scratch, &final_len) != 1) {
    backend::ClearErrors();
    if (!in.empty()) OPENSSL_cleanse(out, in.size());
    return enc ? KH_E_INTERNAL : KH_E_AUTH_FAILED;
  }
  if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagLen), tag) != 1) {
    backend::ClearErrors();
    if (!in.empty()) OPENSSL_cleanse(out, in.size());
    return KH_E_INTERNAL;
  }
  return OkStatus();
}

Status EvpAead::Seal(ByteView nonce, ByteView aad1, ByteView aad2, ByteView pt, uint8_t* out) const {
  return Run(1, nonce, aad1, aad2, pt, out, out + pt.size());
}

Status EvpAead::Open(ByteView nonce, ByteView aad1, ByteView aad2, ByteView ct_tag, uint8_t* out) const {
  if (ct_tag.size() < kTagLen) return KH_E_AUTH_FAILED;
  const size_t n = ct_tag.size() - kTagLen;
  // Copy the tag first: out may equal the ciphertext (in place).
  uint8_t tag[kTagLen];
  const ByteView tag_in = ct_tag.subspan(n);
  std::copy(tag_in.begin(), tag_in.end(), tag);
  return Run(0, nonce, aad1, aad2, ct_tag.first(n), out, tag);
}

}  // namespace keyhold::aead
