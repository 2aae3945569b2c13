// Aead: authenticated encryption with an explicit nonce, one key.
//
// Implementations are immutable after construction and thread-safe: any
// number of threads may call Seal/Open concurrently. The associated data is
// the concatenation aad1 || aad2 (keyhold binds its output header as aad1
// without copying it in front of the caller's aad).
#pragma once

#include <memory>

#include "core/status.h"

namespace keyhold::aead {

inline constexpr size_t kTagLen = 16;

class Aead {
 public:
  virtual ~Aead() = default;
  virtual kh_alg alg() const = 0;
  // NonceLenOk reports whether Seal/Open accept a nonce of n bytes.
  virtual bool NonceLenOk(size_t n) const = 0;
  // Seal writes pt.size() + kTagLen bytes (ciphertext || tag) to out. out
  // may equal pt.data() exactly; any other overlap is the caller's bug.
  virtual Status Seal(ByteView nonce, ByteView aad1, ByteView aad2, ByteView pt, uint8_t* out) const = 0;
  // Open authenticates ct_tag (at least kTagLen bytes) and writes
  // ct_tag.size() - kTagLen plaintext bytes to out. On any failure those
  // bytes of out are zeroed and KH_E_AUTH_FAILED is returned for a bad tag.
  virtual Status Open(ByteView nonce, ByteView aad1, ByteView aad2, ByteView ct_tag, uint8_t* out) const = 0;
};

// Factories. key must have the algorithm's key length (32 bytes).
// NewAes256Gcm and NewChaCha20Poly1305 use the backend the process selected
// for the primitive (backends.h).
StatusOr<std::unique_ptr<Aead>> NewAes256Gcm(ByteView key);
StatusOr<std::unique_ptr<Aead>> NewChaCha20Poly1305(ByteView key);
StatusOr<std::unique_ptr<Aead>> NewXChaCha20Poly1305(ByteView key);

// One backend explicitly, whatever the process selected: for the self-test
// and the tests, which check both backends on every machine. The *IpsecMb
// factories return KH_E_UNSUPPORTED where intel-ipsec-mb cannot run (not
// built in, no AES-NI).
StatusOr<std::unique_ptr<Aead>> NewAes256GcmOpenSSL(ByteView key);
StatusOr<std::unique_ptr<Aead>> NewAes256GcmIpsecMb(ByteView key);
StatusOr<std::unique_ptr<Aead>> NewChaCha20Poly1305OpenSSL(ByteView key);
StatusOr<std::unique_ptr<Aead>> NewChaCha20Poly1305IpsecMb(ByteView key);

}  // namespace keyhold::aead
