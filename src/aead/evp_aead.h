// EvpAead: an Aead over an OpenSSL EVP AEAD cipher, tuned per BASELINES.md:
// the cipher is fetched once, each key keeps a pool of keyed contexts (one
// for each direction), and a message only resets the IV.
#pragma once

#include <openssl/evp.h>

#include "aead/aead.h"
#include "backend/openssl.h"
#include "secmem/arena.h"

namespace keyhold::aead {

class EvpAead final : public Aead {
 public:
  // default_nonce_len: the nonce length pooled contexts are set up for;
  // others (AES-GCM only) use a one-off context. min/max bound the nonce.
  EvpAead(kh_alg alg, const EVP_CIPHER* cipher, secmem::SecretBytes key, size_t default_nonce_len,
          size_t min_nonce, size_t max_nonce);

  kh_alg alg() const override { return alg_; }
  bool NonceLenOk(size_t n) const override { return n >= min_nonce_ && n <= max_nonce_; }
  Status Seal(ByteView nonce, ByteView aad1, ByteView aad2, ByteView pt, uint8_t* out) const override;
  Status Open(ByteView nonce, ByteView aad1, ByteView aad2, ByteView ct_tag, uint8_t* out) const override;

 private:
  backend::CipherCtxPtr NewCtx(int enc, size_t nonce_len) const;
  Status Run(int enc, ByteView nonce, ByteView aad1, ByteView aad2, ByteView in, uint8_t* out,
             uint8_t* tag) const;

  kh_alg alg_;
  const EVP_CIPHER* cipher_;
  secmem::SecretBytes key_;
  size_t default_nonce_;
  size_t min_nonce_;
  size_t max_nonce_;
  mutable backend::CtxPool<EVP_CIPHER_CTX, backend::CipherCtxFree> enc_pool_;
  mutable backend::CtxPool<EVP_CIPHER_CTX, backend::CipherCtxFree> dec_pool_;
};

}  // namespace keyhold::aead
