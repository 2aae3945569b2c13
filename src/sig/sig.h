// Signer: a signature key pair (or a public key only). Thread-safe.
#pragma once

#include <initializer_list>
#include <memory>
#include <vector>

#include "core/status.h"
#include "secmem/arena.h"

namespace keyhold::sig {

inline constexpr size_t kMaxSigLen = 72;  // DER ECDSA P-256 upper bound

class Signer {
 public:
  virtual ~Signer() = default;
  virtual bool has_private() const = 0;
  // Sign signs the concatenation of parts; writes at most kMaxSigLen bytes.
  virtual Status Sign(std::initializer_list<ByteView> parts, uint8_t* out, size_t* out_len) const = 0;
  // SignDigest signs a precomputed hash (ECDSA only).
  virtual Status SignDigest(ByteView digest, uint8_t* out, size_t* out_len) const {
    (void)digest, (void)out, (void)out_len;
    return KH_E_WRONG_PRIMITIVE;
  }
  // Verify: KH_E_AUTH_FAILED for any invalid or malformed signature.
  virtual Status Verify(std::initializer_list<ByteView> parts, ByteView sig) const = 0;
  // PublicKey: KH_PUBKEY_RAW or KH_PUBKEY_DER.
  virtual Status PublicKey(uint32_t format, std::vector<uint8_t>* out) const = 0;
};

// Ed25519 (RFC 8032) over libsodium. Private: 32-byte seed.
StatusOr<secmem::SecretBytes> GenerateEd25519();
StatusOr<std::unique_ptr<Signer>> NewEd25519(ByteView seed);
StatusOr<std::unique_ptr<Signer>> NewEd25519Public(ByteView pub);

// ECDSA P-256 with SHA-256 over OpenSSL. Private: 32-byte big-endian scalar.
// p1363 selects fixed r||s signatures instead of DER.
StatusOr<secmem::SecretBytes> GenerateEcdsaP256();
StatusOr<std::unique_ptr<Signer>> NewEcdsaP256(ByteView scalar, bool p1363);
StatusOr<std::unique_ptr<Signer>> NewEcdsaP256Public(ByteView pub, bool p1363);

}  // namespace keyhold::sig
