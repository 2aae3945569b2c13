// Engine-wide configuration and build identity.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace keyhold::core {

struct EngineConfig {
  // Cap on random-nonce encryptions per AEAD key; 0 = the algorithm's
  // default (2^32 for AES-GCM and ChaCha20-Poly1305). Values above the
  // default are ignored: the limit can only be lowered.
  uint64_t aead_usage_limit = 0;
};

// ConfigFromEnvironment reads KEYHOLD_AEAD_MAX_MESSAGES (a decimal count).
// A malformed value is KH_E_INVALID_ARGUMENT: a typo must not silently
// leave the default in force.
Status ConfigFromEnvironment(EngineConfig* out);

// BuildInfoJson: static JSON describing the build (kh_build_info).
const char* BuildInfoJson();

}  // namespace keyhold::core
