// Metrics (src/metrics/, docs/spec/metrics.md): counts, bytes, latency
// histograms and gauges move as operations run; the Prometheus rendering
// carries the same numbers.
#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <keyhold/keyhold.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace keyhold::testing {
namespace {

std::string Text(kh_handle e, uint32_t format) {
  size_t n = 0;
  EXPECT_EQ(kh_engine_metrics_get(e, format, nullptr, 0, &n), KH_E_BUFFER_TOO_SMALL);
  std::string s(n + 8192, '\0');
  EXPECT_EQ(kh_engine_metrics_get(e, format, s.data(), s.size(), &n), KH_OK);
  s.resize(n);
  return s;
}

uint64_t Count(const nlohmann::json& j, const std::string& op, const std::string& outcome) {
  for (const auto& o : j["operations"]) {
    if (o["op"] == op && o["outcome"] == outcome) return o["count"];
  }
  return 0;
}

uint64_t BytesIn(const nlohmann::json& j, const std::string& op) {
  for (const auto& o : j["bytes"]) {
    if (o["op"] == op) return o["in"];
  }
  return 0;
}

TEST(Metrics, CountsBytesKeysAndGaugesFollowTheOperations) {
  kh_handle e = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  const auto before = nlohmann::json::parse(Text(e, KH_METRICS_JSON));
  kh_handle ks = 0;
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  std::vector<uint8_t> pt(64, 7), ct(200), out(200);
  size_t ct_len = 0, out_len = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(kh_aead_encrypt(ks, pt.data(), pt.size(), nullptr, 0, ct.data(), ct.size(), &ct_len), KH_OK);
  }
  ct[ct_len - 1] ^= 1;
  EXPECT_EQ(kh_aead_decrypt(ks, ct.data(), ct_len, nullptr, 0, out.data(), out.size(), &out_len),
            KH_E_AUTH_FAILED);

  const auto after = nlohmann::json::parse(Text(e, KH_METRICS_JSON));
  EXPECT_EQ(after["version"], 1);
  EXPECT_GE(Count(after, "aead_encrypt", "KH_OK") - Count(before, "aead_encrypt", "KH_OK"), 10u);
  EXPECT_GE(
      Count(after, "aead_decrypt", "KH_E_AUTH_FAILED") - Count(before, "aead_decrypt", "KH_E_AUTH_FAILED"),
      1u);
  EXPECT_GE(Count(after, "keyset_generate", "KH_OK") - Count(before, "keyset_generate", "KH_OK"), 1u);
  EXPECT_GE(BytesIn(after, "aead_encrypt") - BytesIn(before, "aead_encrypt"), 640u);
  EXPECT_EQ(after["live_handles"], 1);
  EXPECT_EQ(after["self_test_passed"], true);
  EXPECT_GT(after["secure_memory"]["used"].get<uint64_t>(), 0u);
  ASSERT_EQ(after["keys"].size(), 1u);
  EXPECT_EQ(after["keys"][0]["uses"], 10);
  EXPECT_EQ(after["keys"][0]["limit"], uint64_t{1} << 32);
  EXPECT_EQ(after["keys"][0]["alg"], "AES256_GCM");
  EXPECT_EQ(after["keys"][0]["keyset"].get<std::string>().size(), 32u);

  const std::string prom = Text(e, KH_METRICS_PROMETHEUS);
  EXPECT_NE(prom.find("# TYPE keyhold_operations_total counter"), std::string::npos);
  EXPECT_NE(prom.find("keyhold_operations_total{op=\"aead_decrypt\",outcome=\"KH_E_AUTH_FAILED\"}"),
            std::string::npos);
  EXPECT_NE(prom.find("keyhold_key_usage_headroom{keyset=\"" + after["keys"][0]["keyset"].get<std::string>() +
                      "\",key_id=\"" + std::to_string(after["keys"][0]["key_id"].get<uint32_t>()) +
                      "\",alg=\"AES256_GCM\"} 4294967286"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("keyhold_live_handles 1\n"), std::string::npos);

  EXPECT_EQ(kh_handle_close(ks), KH_OK);
  EXPECT_EQ(nlohmann::json::parse(Text(e, KH_METRICS_JSON))["keys"].size(), 0u);
  size_t n = 0;
  EXPECT_EQ(kh_engine_metrics_get(e, 3, nullptr, 0, &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_engine_metrics_get(e, KH_METRICS_JSON, nullptr, 0, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_engine_close(e), KH_OK);
  EXPECT_EQ(kh_engine_metrics_get(e, KH_METRICS_JSON, nullptr, 0, &n), KH_E_STALE_HANDLE);
}

TEST(Metrics, EveryOperationIsTimedWhenTheSampleIsOne) {
  metrics::Configure(true, 1);
  metrics::Snapshot a, b;
  metrics::Take(&a);
  std::thread t([] {
    for (int i = 0; i < 100; ++i) metrics::Record(metrics::Op::kMacVerify, KH_OK, 10, 0, metrics::Begin());
  });
  t.join();
  // A new thread reuses the finished one's block: nothing is lost.
  std::thread t2([] { metrics::Record(metrics::Op::kMacVerify, KH_E_AUTH_FAILED, 1, 0, metrics::Begin()); });
  t2.join();
  metrics::Take(&b);
  const auto op = static_cast<size_t>(metrics::Op::kMacVerify);
  uint64_t timed_a = 0, timed_b = 0;
  for (size_t k = 0; k < metrics::kBuckets; ++k) {
    timed_a += a.latency[op][k];
    timed_b += b.latency[op][k];
  }
  EXPECT_EQ(timed_b - timed_a, 101u);
  EXPECT_EQ(b.count[op][KH_OK] - a.count[op][KH_OK], 100u);
  EXPECT_EQ(b.count[op][KH_E_AUTH_FAILED] - a.count[op][KH_E_AUTH_FAILED], 1u);
  EXPECT_EQ(b.bytes_in[op] - a.bytes_in[op], 1001u);
  // Disabled: nothing moves.
  metrics::Configure(false, 64);
  metrics::Record(metrics::Op::kMacVerify, KH_OK, 10, 0, metrics::Begin());
  metrics::Snapshot c;
  metrics::Take(&c);
  EXPECT_EQ(c.count[op][KH_OK], b.count[op][KH_OK]);
  metrics::Configure(true, 64);
}

TEST(Metrics, PrometheusHistogramsAreCumulativeAndEndInInf) {
  metrics::Snapshot s;
  const auto op = static_cast<size_t>(metrics::Op::kAeadEncrypt);
  s.latency[op][0] = 2;  // <= 128 ns
  s.latency[op][3] = 1;  // <= 1024 ns
  s.latency[op][metrics::kFiniteBuckets] = 1;
  s.latency_sum_ns[op] = 2000000000;
  const std::string p = metrics::ToPrometheus(s);
  EXPECT_NE(p.find("keyhold_operation_duration_seconds_bucket{op=\"aead_encrypt\",le=\"1.28e-07\"} 2\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("keyhold_operation_duration_seconds_bucket{op=\"aead_encrypt\",le=\"1.024e-06\"} 3\n"),
            std::string::npos);
  EXPECT_NE(p.find("keyhold_operation_duration_seconds_bucket{op=\"aead_encrypt\",le=\"+Inf\"} 4\n"),
            std::string::npos);
  EXPECT_NE(p.find("keyhold_operation_duration_seconds_sum{op=\"aead_encrypt\"} 2\n"), std::string::npos);
  EXPECT_NE(p.find("keyhold_operation_duration_seconds_count{op=\"aead_encrypt\"} 4\n"), std::string::npos);
}

}  // namespace
}  // namespace keyhold::testing
