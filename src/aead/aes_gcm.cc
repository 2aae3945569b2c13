// AES-256-GCM (NIST SP 800-38D): the OpenSSL backend, and the factory that
// uses the process's backend (backends.h, decision 0011). 96-bit nonces are
// the fast path; raw keysets may use other lengths (1..128 bytes, OpenSSL's
// GCM limit, which the ipsec-mb backend matches), as Wycheproof and some
// peers do.
#include "aead/aead.h"
#include "aead/backends.h"
#include "aead/evp_aead.h"

namespace keyhold::aead {

StatusOr<std::unique_ptr<Aead>> NewAes256GcmOpenSSL(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  const EVP_CIPHER* c = backend::Fetched().aes256_gcm;
  if (c == nullptr) return Status(KH_E_UNSUPPORTED);
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Aead>(new EvpAead(KH_ALG_AES256_GCM, c, std::move(secret), 12, 1, 128));
}

StatusOr<std::unique_ptr<Aead>> NewAes256Gcm(ByteView key) {
  if (CurrentBackend(Accelerated::kAes256Gcm) == Backend::kIpsecMb) return NewAes256GcmIpsecMb(key);
  return NewAes256GcmOpenSSL(key);
}

}  // namespace keyhold::aead
