// Metrics (docs/spec/metrics.md, docs/decisions/0016-metrics.md): counts
// of operations by type and outcome, bytes crossing the boundary, sampled
// latency histograms, policy refusals by reason; plus gauges the ABI adds
// to a snapshot (live handles, guarded memory, per-key usage headroom).
//
// Hot path: Record writes only to a block owned by the calling thread
// (single-writer relaxed stores: no lock, no read-modify-write, no
// allocation once the thread has its block). Snapshot sums all blocks;
// a snapshot taken while operations run is a consistent lower bound of each
// counter, never a torn value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace keyhold::metrics {

// Op: the operations counted. Stable names (OpName) in snapshots; append only.
enum class Op : uint8_t {
  kAeadEncrypt,
  kAeadDecrypt,
  kAeadSealNonce,
  kAeadOpenNonce,
  kDaeadEncrypt,
  kDaeadDecrypt,
  kMacCompute,
  kMacVerify,
  kSigSign,
  kSigVerify,
  kSigSignPlain,
  kSigSignDigest,
  kSigVerifyPlain,
  kKexAgree,
  kKdfDerive,
  kKeysetGenerate,
  kKeysetImportRaw,
  kKeysetImportPublic,
  kKeysetImportWrapped,
  kKeysetExportWrapped,
  kKeysetLoadFile,
  kKeysetSaveFile,
  kKeysetRotate,
  kStreamSeal,  // kh_stream_seal (bytes: plaintext in, ciphertext out)
  kStreamOpen,  // kh_stream_open
  kCount,       // not an operation
};
const char* OpName(Op op);

constexpr size_t kOps = static_cast<size_t>(Op::kCount);
// kOutcomes: kh_status values 0..kOutcomes-1; larger ones count as the last.
constexpr size_t kOutcomes = 32;
// Latency buckets: upper bounds 2^(kFirstBucketLog2 + i) ns, then +Inf.
constexpr unsigned kFirstBucketLog2 = 7;  // 128 ns
constexpr size_t kFiniteBuckets = 24;     // up to 2^30 ns, about 1.07 s
constexpr size_t kBuckets = kFiniteBuckets + 1;
uint64_t BucketUpperNs(size_t i);  // i < kFiniteBuckets

// Policy refusal reasons (the audit trail's reason codes).
enum class Reason : uint8_t {
  kAlgDisabled,
  kAlgDeprecated,
  kKeyTooShort,
  kExportForbidden,
  kCount,
};
const char* ReasonName(Reason r);
constexpr size_t kReasons = static_cast<size_t>(Reason::kCount);

// Configure sets the process-wide switches (the last engine opened wins):
// enabled = false stops counting; sample = N times 1 in N operations per
// thread (a power of two; 0 never times).
void Configure(bool enabled, uint32_t sample);

struct Block;  // one thread's counters (metrics.cc)

// Recorder counts one operation: construct it before the operation (it
// finds this thread's counters once and, 1 in `sample` times, reads the
// clock) and call Done with the outcome.
class Recorder {
 public:
  Recorder() noexcept;
  void Done(Op op, kh_status outcome, uint64_t bytes_in, uint64_t bytes_out) noexcept;

 private:
  Block* block_;    // nullptr when metrics are off
  uint64_t start_;  // ns, 0 when this operation is not timed
};

// Begin/Record: Recorder in two calls (for loops that already hold a
// start time).
uint64_t Begin() noexcept;
void Record(Op op, kh_status outcome, uint64_t bytes_in, uint64_t bytes_out, uint64_t start) noexcept;
void RecordRefusal(Reason r) noexcept;

struct Snapshot {
  uint64_t count[kOps][kOutcomes] = {};
  uint64_t bytes_in[kOps] = {};
  uint64_t bytes_out[kOps] = {};
  uint64_t latency[kOps][kBuckets] = {};  // per bucket, not cumulative
  uint64_t latency_sum_ns[kOps] = {};
  uint64_t refusals[kReasons] = {};
  uint32_t sample = 0;  // the sampling rate in force

  // Gauges, filled by the ABI for one engine.
  uint64_t live_handles = 0;
  uint64_t secure_bytes_used = 0;
  uint64_t secure_bytes_total = 0;
  uint64_t secure_bytes_locked = 0;
  uint64_t mlock_failures = 0;
  bool self_test_passed = false;
  struct Key {
    std::string keyset;  // the keyset id, 32 hex digits
    uint32_t key_id = 0;
    std::string alg;
    uint64_t uses = 0;
    uint64_t limit = 0;  // 0: no usage limit
  };
  std::vector<Key> keys;
};

// Take sums every thread's counters into *out (gauges untouched).
void Take(Snapshot* out);

// ToJson: the snapshot format of docs/spec/metrics.md section 2.
std::string ToJson(const Snapshot& s);

// ToPrometheus: the same snapshot in the Prometheus text exposition format
// (version 0.0.4), metric names of docs/spec/metrics.md section 3. The
// daemon serves this on its metrics endpoint.
std::string ToPrometheus(const Snapshot& s);

}  // namespace keyhold::metrics
