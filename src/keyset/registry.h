// The algorithm registry: one row per kh_alg with its family, sizes and how
// to generate a key and build its primitive. Adding an algorithm adds a row
// and a primitive file; nothing else branches on the algorithm.
#pragma once

#include <memory>

#include "aead/aead.h"
#include "core/status.h"
#include "daead/daead.h"
#include "kdf/kdf.h"
#include "kex/kex.h"
#include "mac/mac.h"
#include "secmem/arena.h"
#include "sig/sig.h"

namespace keyhold::keyset {

enum class Family { kAead, kDaead, kMac, kSig, kKex, kKdf };

struct AlgInfo {
  kh_alg alg;
  const char* name;
  Family family;
  kh_alg_sizes sizes;            // for a managed keyset (with header)
  uint64_t default_usage_limit;  // encryptions with random nonces; 0 = none
};

// FindAlg returns the row for alg, or nullptr if alg is unknown.
const AlgInfo* FindAlg(uint32_t alg);

// Primitive: the one member matching the family is set.
struct Primitive {
  std::unique_ptr<aead::Aead> aead;
  std::unique_ptr<daead::Daead> daead;
  std::unique_ptr<mac::Mac> mac;
  std::unique_ptr<sig::Signer> sig;
  std::unique_ptr<kex::X25519> kex;
  std::unique_ptr<kdf::Hkdf> kdf;
};

StatusOr<secmem::SecretBytes> GenerateKey(const AlgInfo& info);
StatusOr<Primitive> MakePrimitive(const AlgInfo& info, ByteView key);
StatusOr<Primitive> MakePublicPrimitive(const AlgInfo& info, ByteView pub);

}  // namespace keyhold::keyset
