// Engine-wide configuration and build identity.
#pragma once

#include <cstdint>
#include <string>

#include "aead/backends.h"
#include "core/status.h"

namespace keyhold::core {

struct EngineConfig {
  // Cap on random-nonce encryptions per AEAD key; 0 = the algorithm's
  // default (2^32 for AES-GCM and ChaCha20-Poly1305). Values above the
  // default are ignored: the limit can only be lowered.
  uint64_t aead_usage_limit = 0;
  // Use counts reserved per write of a stored keyset
  // (KEYHOLD_USE_RESERVATION; 0 = keyset::Keyset::kDefaultReservation;
  // docs/decisions/0012-keyset-storage.md).
  uint64_t use_reservation = 0;
  // KEYHOLD_AESGCM_BACKEND and KEYHOLD_CHACHA20_POLY1305_BACKEND. Validated
  // at every kh_engine_open, but each backend is chosen once per process
  // (aead/backends.h).
  aead::Preference aes_gcm_backend = aead::Preference::kAuto;
  aead::Preference chacha20_poly1305_backend = aead::Preference::kAuto;
};

// ConfigFromEnvironment reads KEYHOLD_AEAD_MAX_MESSAGES and
// KEYHOLD_USE_RESERVATION (decimal counts), KEYHOLD_AESGCM_BACKEND and
// KEYHOLD_CHACHA20_POLY1305_BACKEND (auto | openssl | ipsec-mb). A malformed value is KH_E_INVALID_ARGUMENT:
// a typo must not silently leave the default in force.
Status ConfigFromEnvironment(EngineConfig* out);

// BuildInfoJson: static JSON describing the build (kh_build_info).
const char* BuildInfoJson();

// RuntimeInfoJson: static JSON describing this process's run
// (kh_runtime_info): the AEAD backends chosen and why. Runs the power-on
// self-test first if it has not run, since it can change the choices.
const char* RuntimeInfoJson();

}  // namespace keyhold::core
