// AES-256-GCM over OpenSSL (NIST SP 800-38D). 96-bit nonces are the fast
// path; raw keysets may use other lengths (1..128 bytes, OpenSSL's GCM
// limit), as Wycheproof and some peers do.
#include "aead/aead.h"
#include "aead/evp_aead.h"

namespace keyhold::aead {

StatusOr<std::unique_ptr<Aead>> NewAes256Gcm(ByteView key) {
  if (key.size() != 32) return Status(KH_E_INVALID_ARGUMENT);
  const EVP_CIPHER* c = backend::Fetched().aes256_gcm;
  if (c == nullptr) return Status(KH_E_UNSUPPORTED);
  auto secret = secmem::SecretBytes::CopyOf(key);
  if (!secret.ok()) return Status(KH_E_OUT_OF_MEMORY);
  return std::unique_ptr<Aead>(new EvpAead(KH_ALG_AES256_GCM, c, std::move(secret), 12, 1, 128));
}

}  // namespace keyhold::aead
