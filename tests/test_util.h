// Helpers shared by the C++ tests.
#pragma once

#include <gtest/gtest.h>
#include <keyhold/keyhold.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace keyhold::testing {

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
