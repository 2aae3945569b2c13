// Daead: deterministic authenticated encryption (RFC 5297 AES-SIV).
// Thread-safe. Output layout: SIV (16 bytes) || ciphertext.
#pragma once

#include <initializer_list>
#include <memory>

#include "core/status.h"

namespace keyhold::daead {

inline constexpr size_t kSivLen = 16;

class Daead {
 public:
  virtual ~Daead() = default;
  // Encrypt writes kSivLen + pt.size() bytes to out. Each element of ad is
  // one S2V associated-data component (RFC 5297 section 2.4).
  virtual Status Encrypt(std::initializer_list<ByteView> ad, ByteView pt, uint8_t* out) const = 0;
  // Decrypt writes ct.size() - kSivLen bytes; zeroed on failure.
  virtual Status Decrypt(std::initializer_list<ByteView> ad, ByteView ct, uint8_t* out) const = 0;
};

// NewAesSiv accepts a 32-, 48- or 64-byte key (AES-128/192/256-SIV); keyhold
// generates 64-byte keys (AES-256-SIV).
StatusOr<std::unique_ptr<Daead>> NewAesSiv(ByteView key);

}  // namespace keyhold::daead
