// Power-on self-test (DESIGN.md section 8): known-answer tests for every
// algorithm, run once per process before the first engine opens. If any
// fails, the process-wide state becomes "failed" and every operation
// returns KH_E_SELF_TEST_FAILED from then on.
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

}  // namespace keyhold::selftest
