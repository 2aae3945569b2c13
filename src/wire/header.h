// The keyhold output header (docs/spec/formats.md section 2):
//   byte 0     format version, 0x01
//   byte 1     algorithm id (kh_alg)
//   bytes 2-5  key id, big-endian uint32
// It prefixes every ciphertext, MAC tag and signature of a managed keyset and
// is always authenticated (bound into the AEAD's associated data, the SIV's
// first AD component, the MAC input or the signed message).
#pragma once

#include <cstdint>

#include "core/status.h"

namespace keyhold::wire {

inline constexpr uint8_t kVersion1 = 0x01;
inline constexpr size_t kHeaderLen = 6;

void EncodeHeader(kh_alg alg, uint32_t key_id, uint8_t* out);

// ParseHeader checks the version and algorithm and returns the key id:
// KH_E_MALFORMED if in is shorter than the header or names another
// algorithm, KH_E_UNSUPPORTED for an unknown version.
Status ParseHeader(ByteView in, kh_alg expected_alg, uint32_t* key_id);

}  // namespace keyhold::wire
