// HKDF (RFC 5869) with the key as input keying material. Thread-safe.
#pragma once

#include <memory>

#include "core/status.h"

namespace keyhold::kdf {

class Hkdf {
 public:
  virtual ~Hkdf() = default;
  virtual size_t max_output() const = 0;  // 255 * hash length
  // Derive fills out (1..max_output() bytes); zeroed on failure.
  virtual Status Derive(ByteView salt, ByteView info, MutableBytes out) const = 0;
};

// NewHkdf: alg KH_ALG_HKDF_SHA256 or KH_ALG_HKDF_SHA512; ikm 1..1024 bytes.
StatusOr<std::unique_ptr<Hkdf>> NewHkdf(kh_alg alg, ByteView ikm);

}  // namespace keyhold::kdf
