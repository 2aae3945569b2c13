// Helpers shared by the C++ tests.
#pragma once

#include <gtest/gtest.h>
#include <keyhold/keyhold.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace keyhold::testing {

// ScopedEnv sets (value != nullptr) or unsets an environment variable for a
// scope and restores what was there before.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value == nullptr) {
      unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
    } else {
      setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      unsetenv(name_.c_str());  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

inline std::vector<uint8_t> Hex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// EngineFixture opens one engine per test and checks on teardown that the
// test closed every handle it opened (the leak check of the C ABI).
class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(kh_engine_open(&engine_), KH_OK); }
  void TearDown() override {
    kh_engine_stats st{};
    if (kh_engine_stats_get(engine_, &st) == KH_OK) {
      EXPECT_EQ(st.live_handles, 0u) << "test leaked keyset handles";
    }
    (void)kh_engine_close(engine_);
  }
  kh_handle Generate(kh_alg alg, uint32_t flags = 0) {
    kh_handle ks = 0;
    EXPECT_EQ(kh_keyset_generate(engine_, alg, flags, &ks), KH_OK) << kh_alg_name(alg);
    return ks;
  }
  kh_handle engine_ = 0;
};

}  // namespace keyhold::testing
