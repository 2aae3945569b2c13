// X25519 key agreement (RFC 7748). Thread-safe.
#pragma once

#include <memory>

#include "core/status.h"

namespace keyhold::kex {

class X25519 {
 public:
  virtual ~X25519() = default;
  // Agree writes the 32-byte shared secret; KH_E_INVALID_ARGUMENT for a
  // peer key of the wrong length or one that gives the all-zero secret.
  virtual Status Agree(ByteView peer, uint8_t out[32]) const = 0;
  virtual void PublicKey(uint8_t out[32]) const = 0;
};

StatusOr<std::unique_ptr<X25519>> NewX25519(ByteView private_key);

}  // namespace keyhold::kex
