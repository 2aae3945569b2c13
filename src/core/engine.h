// Engine-wide configuration and build identity.
#pragma once

#include <string>

#include "core/status.h"

namespace keyhold::core {

// Configuration: src/config/config.h (KEYHOLD_* variables and the config
// file, one loader).

// BuildInfoJson: static JSON describing the build (kh_build_info).
const char* BuildInfoJson();

// RuntimeInfoJson: static JSON describing this process's run
// (kh_runtime_info): the AEAD backends chosen and why. Runs the power-on
// self-test first if it has not run, since it can change the choices.
const char* RuntimeInfoJson();

}  // namespace keyhold::core
