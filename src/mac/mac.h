// Mac: a keyed message authentication code (HMAC). Thread-safe.
#pragma once

#include <initializer_list>
#include <memory>

#include "core/status.h"

namespace keyhold::mac {

inline constexpr size_t kMaxTagLen = 64;

class Mac {
 public:
  virtual ~Mac() = default;
  virtual size_t tag_len() const = 0;
  // Compute writes tag_len() bytes: MAC over the concatenation of parts.
  virtual Status Compute(std::initializer_list<ByteView> parts, uint8_t* tag) const = 0;
  // Verify compares the leftmost tag.size() bytes in constant time;
  // tag.size() must be in [min_len, tag_len()]. Mismatch: KH_E_AUTH_FAILED.
  Status Verify(std::initializer_list<ByteView> parts, ByteView tag, size_t min_len) const;
};

// NewHmac: hash is KH_ALG_HMAC_SHA256 or KH_ALG_HMAC_SHA512; key 1..1024 bytes.
StatusOr<std::unique_ptr<Mac>> NewHmac(kh_alg alg, ByteView key);

}  // namespace keyhold::mac
