// Handles shared across threads while other threads close them: every call
// returns a defined status, nothing crashes, nothing touches freed memory
// (run under ThreadSanitizer and AddressSanitizer by make sanitize).
#include <atomic>
#include <thread>
#include <vector>

#include "test_util.h"

namespace keyhold {
namespace {

bool Allowed(kh_status s) { return s == KH_OK || s == KH_E_STALE_HANDLE; }

TEST(Concurrency, SharedKeysetsClosedWhileInUse) {
  kh_handle engine = 0;
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  constexpr int kRounds = 40;
  constexpr int kWorkers = 4;
  std::atomic<int> unexpected{0};
  std::atomic<long> ok_calls{0};
  for (int round = 0; round < kRounds; ++round) {
    kh_handle ks = 0;
    ASSERT_EQ(kh_keyset_generate(engine, round % 2 ? KH_ALG_AES256_GCM : KH_ALG_CHACHA20_POLY1305, 0, &ks),
              KH_OK);
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        while (!go.load()) std::this_thread::yield();
        uint8_t pt[100] = {static_cast<uint8_t>(w)}, ct[200], back[200];
        for (int i = 0; i < 200; ++i) {
          size_t n = 0, m = 0;
          kh_status s = kh_aead_encrypt(ks, pt, sizeof pt, nullptr, 0, ct, sizeof ct, &n);
          if (!Allowed(s)) ++unexpected;
          if (s != KH_OK) break;
          s = kh_aead_decrypt(ks, ct, n, nullptr, 0, back, sizeof back, &m);
          if (!Allowed(s)) ++unexpected;
          if (s == KH_OK) ++ok_calls;
          if (w == 0 && i % 50 == 0) {
            uint32_t id = 0;
            s = kh_keyset_rotate(ks, &id);
            if (!Allowed(s)) ++unexpected;
          }
        }
      });
    }
    go = true;
    std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 5)));
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
    for (auto& t : workers) t.join();
  }
  EXPECT_EQ(unexpected.load(), 0);
  kh_engine_stats st{};
  ASSERT_EQ(kh_engine_stats_get(engine, &st), KH_OK);
  EXPECT_EQ(st.live_handles, 0u);
  EXPECT_EQ(kh_engine_close(engine), KH_OK);
  std::printf("concurrency: %ld successful round trips across %d closes\n", ok_calls.load(), kRounds);
}

TEST(Concurrency, EngineClosedWhileChildrenAreCreatedAndUsed) {
  for (int round = 0; round < 20; ++round) {
    kh_handle engine = 0;
    ASSERT_EQ(kh_engine_open(&engine), KH_OK);
    std::atomic<int> unexpected{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 3; ++w) {
      workers.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          kh_handle ks = 0;
          kh_status s = kh_keyset_generate(engine, KH_ALG_HMAC_SHA256, 0, &ks);
          if (s != KH_OK && s != KH_E_STALE_HANDLE && s != KH_E_ENGINE_CLOSED) ++unexpected;
          if (s != KH_OK) break;
          uint8_t tag[64];
          size_t n = 0;
          s = kh_mac_compute(ks, tag, 8, tag + 16, 48, &n);
          if (!Allowed(s)) ++unexpected;
          s = kh_handle_close(ks);
          if (!Allowed(s)) ++unexpected;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50 * round));
    EXPECT_EQ(kh_engine_close(engine), KH_OK);
    for (auto& t : workers) t.join();
    EXPECT_EQ(unexpected.load(), 0);
  }
}

TEST(Concurrency, ManyThreadsOneKeyOneBatchEach) {
  kh_handle engine = 0, ks = 0;
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  ASSERT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  std::vector<std::thread> workers;
  std::atomic<int> bad{0};
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      uint8_t pt[64] = {9}, out[32][128];
      kh_batch_item items[32];
      for (int i = 0; i < 32; ++i) {
        items[i] =
            kh_batch_item{ks, KH_OP_AEAD_ENCRYPT, 0, pt, sizeof pt, nullptr, 0, nullptr, 0, out[i], 128, 0};
      }
      for (int r = 0; r < 100; ++r) {
        size_t failed = 0;
        if (kh_batch(items, 32, &failed) != KH_OK || failed != 0) ++bad;
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(bad.load(), 0);
  kh_key_info ki{};
  ASSERT_EQ(kh_keyset_key_info_get(ks, 0, &ki), KH_OK);
  EXPECT_EQ(ki.use_count, 4u * 32u * 100u) << "the usage counter is exact under contention";
  EXPECT_EQ(kh_engine_close(engine), KH_OK);
}

}  // namespace
}  // namespace keyhold
