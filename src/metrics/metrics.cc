#include "metrics/metrics.h"

#include <time.h>

#include <array>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/json.h"

namespace keyhold::metrics {

using Counter = std::atomic<uint64_t>;

// Block: one thread's counters. Only the owning thread writes (Bump: a
// relaxed load and store, no locked instruction); Take reads relaxed.
// Blocks are never freed: a thread's exit hands its block, counts and all,
// to the next new thread.
struct alignas(64) Block {  // NOLINT(cert-dcl58-cpp): declared in metrics.h
  Counter count[kOps][kOutcomes] = {};
  Counter bytes_in[kOps] = {};
  Counter bytes_out[kOps] = {};
  Counter latency[kOps][kBuckets] = {};
  Counter latency_sum_ns[kOps] = {};
  Counter refusals[kReasons] = {};
  uint32_t tick = 0;  // owner only: the sampling counter
  std::atomic<bool> owned{true};
  Block* next = nullptr;  // immutable once published
};

namespace {

inline void Bump(Counter& c, uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct Registry {
  std::mutex mu;
  std::atomic<Block*> head{nullptr};
};

Registry& TheRegistry() {
  static auto* r = new Registry();  // leaked: threads may record during exit
  return *r;
}

Block* Acquire() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (Block* b = r.head.load(std::memory_order_acquire); b != nullptr; b = b->next) {
    bool expected = false;
    if (b->owned.compare_exchange_strong(expected, true)) return b;
  }
  auto* b = new Block();  // NOLINT: published in the registry, never freed
  b->next = r.head.load(std::memory_order_relaxed);
  r.head.store(b, std::memory_order_release);
  return b;
}

// Owner releases its thread's block at thread exit.
struct Owner {
  Block* block = nullptr;
  Owner() = default;
  Owner(const Owner&) = delete;
  Owner& operator=(const Owner&) = delete;
  ~Owner() {
    if (block != nullptr) block->owned.store(false, std::memory_order_release);
  }
};

// t_block: this thread's block, the one thread-local of the hot path. A
// trivial pointer (no init guard) at a fixed offset from the thread pointer
// (initial-exec: no __tls_get_addr call in libkeyhold.so; 8 bytes of the
// static TLS surplus glibc keeps for libraries, as the audit trail's).
thread_local Block* t_block __attribute__((tls_model("initial-exec"))) = nullptr;
// t_owner is touched once per thread, when its block is acquired.
thread_local Owner t_owner;

inline Block* Mine() {
  Block* b = t_block;
  if (b == nullptr) [[unlikely]] {
    b = Acquire();
    t_owner.block = b;
    t_block = b;
  }
  return b;
}

std::atomic<bool> g_enabled{true};
std::atomic<uint32_t> g_sample{64};

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

size_t Bucket(uint64_t ns) {
  if (ns <= (uint64_t{1} << kFirstBucketLog2)) return 0;
  const size_t b = static_cast<size_t>(std::bit_width(ns - 1)) - kFirstBucketLog2;
  return b < kFiniteBuckets ? b : kFiniteBuckets;
}

std::string Num(uint64_t v) { return std::to_string(v); }

}  // namespace

const char* OpName(Op op) {
  static constexpr const char* kNames[] = {"aead_encrypt",
                                           "aead_decrypt",
                                           "aead_seal_nonce",
                                           "aead_open_nonce",
                                           "daead_encrypt",
                                           "daead_decrypt",
                                           "mac_compute",
                                           "mac_verify",
                                           "sig_sign",
                                           "sig_verify",
                                           "sig_sign_plain",
                                           "sig_sign_digest",
                                           "sig_verify_plain",
                                           "kex_agree",
                                           "kdf_derive",
                                           "keyset_generate",
                                           "keyset_import_raw",
                                           "keyset_import_public",
                                           "keyset_import_wrapped",
                                           "keyset_export_wrapped",
                                           "keyset_load_file",
                                           "keyset_save_file",
                                           "keyset_rotate",
                                           "stream_seal",
                                           "stream_open"};
  static_assert(std::size(kNames) == kOps);
  const auto i = static_cast<size_t>(op);
  if (i >= kOps) return "unknown";
  return kNames[i];
}

const char* ReasonName(Reason r) {
  switch (r) {
    case Reason::kAlgDisabled:
      return "alg_disabled";
    case Reason::kAlgDeprecated:
      return "alg_deprecated";
    case Reason::kKeyTooShort:
      return "key_too_short";
    case Reason::kExportForbidden:
      return "export_forbidden";
    case Reason::kCount:
      break;
  }
  return "unknown";
}

uint64_t BucketUpperNs(size_t i) { return uint64_t{1} << (kFirstBucketLog2 + i); }

void Configure(bool enabled, uint32_t sample) {
  g_enabled.store(enabled, std::memory_order_relaxed);
  g_sample.store(sample, std::memory_order_relaxed);
}

Recorder::Recorder() noexcept : block_(nullptr), start_(0) {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  block_ = Mine();
  const uint32_t sample = g_sample.load(std::memory_order_relaxed);
  if (sample != 0 && (block_->tick++ & (sample - 1)) == 0) start_ = NowNs();
}

void Recorder::Done(Op op, kh_status outcome, uint64_t bytes_in, uint64_t bytes_out) noexcept {
  Block* b = block_;
  if (b == nullptr) return;
  const auto o = static_cast<size_t>(op);
  const auto s = static_cast<size_t>(outcome);
  Bump(b->count[o][s < kOutcomes ? s : kOutcomes - 1], 1);
  Bump(b->bytes_in[o], bytes_in);
  Bump(b->bytes_out[o], bytes_out);
  if (start_ != 0) {
    const uint64_t end = NowNs();
    const uint64_t ns = end > start_ ? end - start_ : 0;
    Bump(b->latency[o][Bucket(ns)], 1);
    Bump(b->latency_sum_ns[o], ns);
  }
}

uint64_t Begin() noexcept {
  const uint32_t sample = g_sample.load(std::memory_order_relaxed);
  if (sample == 0 || !g_enabled.load(std::memory_order_relaxed)) return 0;
  Block* b = Mine();
  if ((b->tick++ & (sample - 1)) != 0) return 0;
  return NowNs();
}

void Record(Op op, kh_status outcome, uint64_t bytes_in, uint64_t bytes_out, uint64_t start) noexcept {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  Block* b = Mine();
  const auto o = static_cast<size_t>(op);
  const auto s = static_cast<size_t>(outcome);
  Bump(b->count[o][s < kOutcomes ? s : kOutcomes - 1], 1);
  Bump(b->bytes_in[o], bytes_in);
  Bump(b->bytes_out[o], bytes_out);
  if (start != 0) {
    const uint64_t end = NowNs();
    const uint64_t ns = end > start ? end - start : 0;
    Bump(b->latency[o][Bucket(ns)], 1);
    Bump(b->latency_sum_ns[o], ns);
  }
}

void RecordRefusal(Reason r) noexcept {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  Bump(Mine()->refusals[static_cast<size_t>(r)], 1);
}

void Take(Snapshot* out) {
  // Counters restart from zero; the gauges the caller filled stay.
  std::memset(out->count, 0, sizeof out->count);
  std::memset(out->bytes_in, 0, sizeof out->bytes_in);
  std::memset(out->bytes_out, 0, sizeof out->bytes_out);
  std::memset(out->latency, 0, sizeof out->latency);
  std::memset(out->latency_sum_ns, 0, sizeof out->latency_sum_ns);
  std::memset(out->refusals, 0, sizeof out->refusals);
  out->sample = g_sample.load(std::memory_order_relaxed);
  for (Block* b = TheRegistry().head.load(std::memory_order_acquire); b != nullptr; b = b->next) {
    for (size_t o = 0; o < kOps; ++o) {
      for (size_t s = 0; s < kOutcomes; ++s)
        out->count[o][s] += b->count[o][s].load(std::memory_order_relaxed);
      out->bytes_in[o] += b->bytes_in[o].load(std::memory_order_relaxed);
      out->bytes_out[o] += b->bytes_out[o].load(std::memory_order_relaxed);
      for (size_t k = 0; k < kBuckets; ++k)
        out->latency[o][k] += b->latency[o][k].load(std::memory_order_relaxed);
      out->latency_sum_ns[o] += b->latency_sum_ns[o].load(std::memory_order_relaxed);
    }
    for (size_t r = 0; r < kReasons; ++r) out->refusals[r] += b->refusals[r].load(std::memory_order_relaxed);
  }
}

std::string ToJson(const Snapshot& s) {
  std::string j = "{\"version\":1,\"operations\":[";
  bool first = true;
  for (size_t o = 0; o < kOps; ++o) {
    for (size_t st = 0; st < kOutcomes; ++st) {
      if (s.count[o][st] == 0) continue;
      if (!first) j += ",";
      first = false;
      j += "{\"op\":\"" + std::string(OpName(static_cast<Op>(o))) + "\",\"outcome\":\"" +
           StatusName(static_cast<kh_status>(st)) + "\",\"count\":" + Num(s.count[o][st]) + "}";
    }
  }
  j += "],\"bytes\":[";
  first = true;
  for (size_t o = 0; o < kOps; ++o) {
    if (s.bytes_in[o] == 0 && s.bytes_out[o] == 0) continue;
    if (!first) j += ",";
    first = false;
    j += "{\"op\":\"" + std::string(OpName(static_cast<Op>(o))) + "\",\"in\":" + Num(s.bytes_in[o]) +
         ",\"out\":" + Num(s.bytes_out[o]) + "}";
  }
  j += "],\"latency\":{\"sample\":" + Num(s.sample) + ",\"bucket_upper_ns\":[";
  for (size_t k = 0; k < kFiniteBuckets; ++k) {
    if (k != 0) j += ',';
    j += Num(BucketUpperNs(k));
  }
  j += "],\"ops\":[";
  first = true;
  for (size_t o = 0; o < kOps; ++o) {
    uint64_t n = 0;
    for (size_t k = 0; k < kBuckets; ++k) n += s.latency[o][k];
    if (n == 0) continue;
    if (!first) j += ",";
    first = false;
    j += "{\"op\":\"" + std::string(OpName(static_cast<Op>(o))) + "\",\"count\":" + Num(n) +
         ",\"sum_ns\":" + Num(s.latency_sum_ns[o]) + ",\"buckets\":[";
    for (size_t k = 0; k < kBuckets; ++k) {
      if (k != 0) j += ',';
      j += Num(s.latency[o][k]);
    }
    j += "]}";
  }
  j += "]},\"policy_refusals\":{";
  for (size_t r = 0; r < kReasons; ++r) {
    if (r != 0) j += ',';
    j += "\"" + std::string(ReasonName(static_cast<Reason>(r))) + "\":" + Num(s.refusals[r]);
  }
  j += "},\"live_handles\":" + Num(s.live_handles) +
       ",\"secure_memory\":{\"used\":" + Num(s.secure_bytes_used) +
       ",\"total\":" + Num(s.secure_bytes_total) + ",\"locked\":" + Num(s.secure_bytes_locked) +
       ",\"mlock_failures\":" + Num(s.mlock_failures) +
       "},\"self_test_passed\":" + (s.self_test_passed ? "true" : "false") + ",\"keys\":[";
  first = true;
  for (const auto& k : s.keys) {
    if (!first) j += ",";
    first = false;
    j += "{\"keyset\":" + core::JsonString(k.keyset) + ",\"key_id\":" + Num(k.key_id) +
         ",\"alg\":" + core::JsonString(k.alg) + ",\"uses\":" + Num(k.uses) + ",\"limit\":" + Num(k.limit) +
         "}";
  }
  return j + "]}";
}

std::string ToPrometheus(const Snapshot& s) {
  std::string p;
  p += "# HELP keyhold_operations_total Operations by type and outcome (kh_status name).\n";
  p += "# TYPE keyhold_operations_total counter\n";
  for (size_t o = 0; o < kOps; ++o) {
    for (size_t st = 0; st < kOutcomes; ++st) {
      if (s.count[o][st] == 0) continue;
      p += "keyhold_operations_total{op=\"" + std::string(OpName(static_cast<Op>(o))) + "\",outcome=\"" +
           StatusName(static_cast<kh_status>(st)) + "\"} " + Num(s.count[o][st]) + "\n";
    }
  }
  for (const char* dir : {"in", "out"}) {
    const bool in = dir[0] == 'i';
    p += std::string("# HELP keyhold_bytes_") + dir + "_total Bytes " + (in ? "passed into" : "returned by") +
         " operations across the ABI.\n";
    p += std::string("# TYPE keyhold_bytes_") + dir + "_total counter\n";
    for (size_t o = 0; o < kOps; ++o) {
      const uint64_t v = in ? s.bytes_in[o] : s.bytes_out[o];
      if (v == 0) continue;
      p += std::string("keyhold_bytes_") + dir + "_total{op=\"" + OpName(static_cast<Op>(o)) + "\"} " +
           Num(v) + "\n";
    }
  }
  p += "# HELP keyhold_operation_duration_seconds Latency of sampled operations (1 in sample per thread).\n";
  p += "# TYPE keyhold_operation_duration_seconds histogram\n";
  for (size_t o = 0; o < kOps; ++o) {
    uint64_t n = 0;
    for (size_t k = 0; k < kBuckets; ++k) n += s.latency[o][k];
    if (n == 0) continue;
    const std::string op = OpName(static_cast<Op>(o));
    uint64_t cum = 0;
    for (size_t k = 0; k < kFiniteBuckets; ++k) {
      cum += s.latency[o][k];
      char le[32];
      (void)std::snprintf(le, sizeof le, "%.9g", static_cast<double>(BucketUpperNs(k)) / 1e9);
      p +=
          "keyhold_operation_duration_seconds_bucket{op=\"" + op + "\",le=\"" + le + "\"} " + Num(cum) + "\n";
    }
    p += "keyhold_operation_duration_seconds_bucket{op=\"" + op + "\",le=\"+Inf\"} " + Num(n) + "\n";
    char sum[48];
    (void)std::snprintf(sum, sizeof sum, "%.9g", static_cast<double>(s.latency_sum_ns[o]) / 1e9);
    p += "keyhold_operation_duration_seconds_sum{op=\"" + op + "\"} " + sum + "\n";
    p += "keyhold_operation_duration_seconds_count{op=\"" + op + "\"} " + Num(n) + "\n";
  }
  p += "# HELP keyhold_policy_refusals_total Operations refused by policy, by reason.\n";
  p += "# TYPE keyhold_policy_refusals_total counter\n";
  for (size_t r = 0; r < kReasons; ++r) {
    p += "keyhold_policy_refusals_total{reason=\"" + std::string(ReasonName(static_cast<Reason>(r))) +
         "\"} " + Num(s.refusals[r]) + "\n";
  }
  p += "# HELP keyhold_live_handles Objects open in the engine.\n# TYPE keyhold_live_handles gauge\n";
  p += "keyhold_live_handles " + Num(s.live_handles) + "\n";
  p += "# HELP keyhold_secure_memory_bytes Guarded-arena bytes (process-wide) by state.\n";
  p += "# TYPE keyhold_secure_memory_bytes gauge\n";
  p += "keyhold_secure_memory_bytes{state=\"used\"} " + Num(s.secure_bytes_used) + "\n";
  p += "keyhold_secure_memory_bytes{state=\"total\"} " + Num(s.secure_bytes_total) + "\n";
  p += "keyhold_secure_memory_bytes{state=\"locked\"} " + Num(s.secure_bytes_locked) + "\n";
  p += "# HELP keyhold_mlock_failures Arenas that could not be locked in RAM.\n";
  p += "# TYPE keyhold_mlock_failures gauge\nkeyhold_mlock_failures " + Num(s.mlock_failures) + "\n";
  p += "# HELP keyhold_self_test_passed 1 if the power-on self-test passed.\n";
  p += "# TYPE keyhold_self_test_passed gauge\n";
  p += std::string("keyhold_self_test_passed ") + (s.self_test_passed ? "1" : "0") + "\n";
  p += "# HELP keyhold_key_uses Uses counted against each key.\n# TYPE keyhold_key_uses gauge\n";
  for (const auto& k : s.keys) {
    p += "keyhold_key_uses{keyset=\"" + k.keyset + "\",key_id=\"" + Num(k.key_id) + "\",alg=\"" + k.alg +
         "\"} " + Num(k.uses) + "\n";
  }
  p += "# HELP keyhold_key_usage_headroom Uses left before a key's usage limit (limited keys only).\n";
  p += "# TYPE keyhold_key_usage_headroom gauge\n";
  for (const auto& k : s.keys) {
    if (k.limit == 0) continue;
    p += "keyhold_key_usage_headroom{keyset=\"" + k.keyset + "\",key_id=\"" + Num(k.key_id) + "\",alg=\"" +
         k.alg + "\"} " + Num(k.limit > k.uses ? k.limit - k.uses : 0) + "\n";
  }
  return p;
}

}  // namespace keyhold::metrics
