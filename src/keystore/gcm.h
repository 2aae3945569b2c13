// Gcm: one AES-256-GCM message over OpenSSL EVP, streamed piece by piece.
//
// The keystore's own cipher (data keys, wrapped data keys), separate from
// the keyset AEAD primitives: storage must not depend on which backend the
// process selected for them (decision 0011), and streaming lets key
// material go from one guarded buffer to another without a plaintext copy
// of the whole keyset on the heap.
#pragma once

#include "backend/openssl.h"
#include "core/status.h"

namespace keyhold::keystore {

inline constexpr size_t kGcmKeyLen = 32;
inline constexpr size_t kGcmNonceLen = 12;
inline constexpr size_t kGcmTagLen = 16;

class Gcm {
 public:
  // Seal and Open start a message under key (32 bytes) and nonce (12
  // bytes) with the associated data aad.
  static StatusOr<Gcm> Seal(ByteView key, ByteView nonce, ByteView aad);
  static StatusOr<Gcm> Open(ByteView key, ByteView nonce, ByteView aad);

  // Update encrypts or decrypts in into out (in.size() bytes). Decrypted
  // bytes are unauthenticated until FinishOpen succeeds.
  Status Update(ByteView in, uint8_t* out);
  // FinishSeal writes the tag.
  Status FinishSeal(uint8_t* tag);
  // FinishOpen checks the tag: KH_E_AUTH_FAILED if it does not match.
  Status FinishOpen(ByteView tag);

 private:
  explicit Gcm(backend::CipherCtxPtr ctx) : ctx_(std::move(ctx)) {}
  backend::CipherCtxPtr ctx_;
  bool encrypt_ = false;
};

}  // namespace keyhold::keystore
