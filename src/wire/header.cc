#include "wire/header.h"

namespace keyhold::wire {

void EncodeHeader(kh_alg alg, uint32_t key_id, uint8_t* out) {
  out[0] = kVersion1;
  out[1] = static_cast<uint8_t>(alg);
  out[2] = static_cast<uint8_t>(key_id >> 24);
  out[3] = static_cast<uint8_t>(key_id >> 16);
  out[4] = static_cast<uint8_t>(key_id >> 8);
  out[5] = static_cast<uint8_t>(key_id);
}

Status ParseHeader(ByteView in, kh_alg expected_alg, uint32_t* key_id) {
  if (in.size() < kHeaderLen) return KH_E_MALFORMED;
  if (in[0] != kVersion1) return KH_E_UNSUPPORTED;
  if (in[1] != static_cast<uint8_t>(expected_alg)) return KH_E_MALFORMED;
  *key_id = (uint32_t{in[2]} << 24) | (uint32_t{in[3]} << 16) | (uint32_t{in[4]} << 8) | uint32_t{in[5]};
  return OkStatus();
}

}  // namespace keyhold::wire
