// ChaCha20-Poly1305 (RFC 8439): the OpenSSL backend (faster than libsodium
// from 1 KiB up and equal at 64 B, BASELINES.md), and the factory that uses
// the process's backend: intel-ipsec-mb where it runs, 1.2-1.4x OpenSSL
// (backends.h, decision 0011).
#include "aead/aead.h"
#include "aead/backends.h"
#include "aead/evp_aead.h"

namespace keyhold::aead {

StatusOr<std::unique_ptr<Aead>> NewChaCha20Poly1305OpenSSL(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  const EVP_CIPHER* c = backend::Fetched().chacha20_poly1305;
  if (c == nullptr) return Status(KH_E_UNSUPPORTED);
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Aead>(new EvpAead(KH_ALG_CHACHA20_POLY1305, c, std::move(secret), 12, 12, 12));
}

StatusOr<std::unique_ptr<Aead>> NewChaCha20Poly1305(ByteView key) {
  if (CurrentBackend(Accelerated::kChaCha20Poly1305) == Backend::kIpsecMb) {
    return NewChaCha20Poly1305IpsecMb(key);
  }
  return NewChaCha20Poly1305OpenSSL(key);
}

}  // namespace keyhold::aead
