// Power-on self-test (DESIGN.md section 8): known-answer tests for every
// algorithm, run once per process before the first engine opens. If any
// fails, the process-wide state becomes "failed" and every operation
// returns KH_E_SELF_TEST_FAILED from then on. The one exception is an
// accelerated backend (intel-ipsec-mb, for AES-GCM and ChaCha20-Poly1305):
// when it disagrees, the process falls back to OpenSSL for that primitive
// and reports why (kh_runtime_info), since a correct backend remains.
#pragma once

#include <string>

#include "core/status.h"

namespace keyhold::selftest {

enum class State { kNotRun, kPassed, kFailed };

// Run runs the tests once (thread-safe; later calls return the result).
State Run();
State Current();
inline bool Failed() { return Current() == State::kFailed; }

// RunAll runs every known-answer test now and returns the name of the first
// that failed, or an empty string. Used by Run and by tests.
std::string RunAll();

// ForceFailureForTesting puts the process in the failed state. Only the
// test suite calls it (it is not exported from the shared library).
void ForceFailureForTesting();

// ForceAcceleratedMismatchForTesting makes the accelerated backends appear
// to disagree with OpenSSL in later self-test runs, so the tests can check
// that they are disabled and reported rather than failing the engine.
void ForceAcceleratedMismatchForTesting();

}  // namespace keyhold::selftest
