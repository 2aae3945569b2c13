// The power-on self-test: every KAT passes on this build, and a failed
// self-test locks every operation (checked in a child process, since the
// failed state is process-wide and permanent).
#include "selftest/selftest.h"

#include "test_util.h"

namespace keyhold {
namespace {

TEST(SelfTest, AllKnownAnswerTestsPass) {
  EXPECT_EQ(selftest::RunAll(), "");
  kh_handle e = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  kh_engine_stats st{};
  ASSERT_EQ(kh_engine_stats_get(e, &st), KH_OK);
  EXPECT_EQ(st.self_test_passed, 1u);
  EXPECT_EQ(kh_engine_close(e), KH_OK);
}

int FailedEngineChild() {
  kh_handle e = 0, ks = 0;
  if (kh_engine_open(&e) != KH_OK) return 10;
  if (kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks) != KH_OK) return 11;
  selftest::ForceFailureForTesting();
  uint8_t buf[64];
  size_t n = 0;
  if (kh_aead_encrypt(ks, buf, 4, nullptr, 0, buf + 8, 50, &n) != KH_E_SELF_TEST_FAILED) return 12;
  if (kh_random_bytes(buf, 8) != KH_E_SELF_TEST_FAILED) return 13;
  kh_handle e2 = 0;
  if (kh_engine_open(&e2) != KH_E_SELF_TEST_FAILED) return 14;
  kh_batch_item item{};
  if (kh_batch(&item, 1, nullptr) != KH_E_SELF_TEST_FAILED) return 15;
  kh_engine_stats st{};
  if (kh_engine_stats_get(e, &st) != KH_OK || st.self_test_passed != 0) return 16;
  return 0;
}

TEST(SelfTestDeathTest, FailureRefusesEveryOperation) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(FailedEngineChild()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace keyhold
