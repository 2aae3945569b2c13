// Audit trail (docs/spec/audit.md, docs/decisions/0014-audit-trail.md): one
// process-wide, append-only, hash-chained JSON-lines log with periodic
// HMAC-SHA256 checkpoints, written to a file sink and optionally syslog.
//
// What is recorded: key lifecycle events, policy decisions, self-test
// results (one record each, written synchronously), and key use (the ABI's
// per-message operations), which is aggregated per interval into counts and
// byte totals per (keyset, key, operation, outcome, caller). Never a key,
// plaintext, ciphertext, associated data, tag or any value derived from a
// secret: records carry identifiers, sizes, status names and times only.
//
// Threading: every function here is thread-safe. RecordUse is the hot-path
// entry: it takes no lock and allocates nothing in the steady state (a
// per-thread table of counters); the rest take the sink's mutex.
//
// Failure policy (spec section 6): a lifecycle record that cannot be
// written makes the lifecycle call fail with KH_E_IO when
// Config::lifecycle_failure is kFailClosed (the default); use records that
// cannot be written are dropped and counted (Stats().dropped_records), and
// the count appears in the next record that is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace keyhold::audit {

// FailurePolicy: what a failed sink write does to the call that caused it.
enum class FailurePolicy : uint8_t {
  kFailClosed,  // the call returns KH_E_IO (and refuses to start once the sink is known broken)
  kFailOpen,    // the record is dropped and counted; the call's own result stands
};

// Config: the audit trail's settings. Defaults are the embedded engine's.
// The configuration loader (src/config, the [audit] table and KEYHOLD_AUDIT*
// variables; docs/configuration.md) fills it for kh_engine_open.
struct Config {
  // enabled: false turns every Record* into a no-op (KEYHOLD_AUDIT=off).
  bool enabled = true;
  // file_path: the log file (KEYHOLD_AUDIT_FILE). Empty = the default,
  // $KEYHOLD_HOME/audit.log ($HOME/.keyhold/audit.log when KEYHOLD_HOME is
  // unset); "off" (in the variable) disables the file sink. The file and
  // its directory are created 0600 / 0700 on first use.
  std::string file_path;
  // key_path: the checkpoint key file (KEYHOLD_AUDIT_KEY). Empty = the
  // file "audit.key" in file_path's directory, created 0600 with 32 random
  // bytes on first use. `keyhold audit verify` reads the same file.
  std::string key_path;
  // syslog: also send every record to syslog(3) (LOG_AUTHPRIV|LOG_INFO,
  // ident "keyhold-audit"), which journald collects (KEYHOLD_AUDIT_SYSLOG=1).
  bool syslog = false;
  // lifecycle_failure: policy for lifecycle, policy and self-test records
  // (KEYHOLD_AUDIT_FAILURE=closed|open). Use records always fail open.
  FailurePolicy lifecycle_failure = FailurePolicy::kFailClosed;
  // interval_ms: how often aggregated use counters are flushed
  // (KEYHOLD_AUDIT_INTERVAL_MS, 10..86400000; default 10 s).
  uint32_t interval_ms = 10000;
  // checkpoint_every: a checkpoint after at most this many records
  // (KEYHOLD_AUDIT_CHECKPOINT_EVERY, 1..1000000); also at every flush.
  uint32_t checkpoint_every = 256;
  // max_file_bytes: rotate when the file would exceed this size
  // (KEYHOLD_AUDIT_MAX_BYTES; 0 = never; default 64 MiB, minimum 4096).
  uint64_t max_file_bytes = uint64_t{64} << 20;
};

// ConfigFromAuditEnvironment reads the KEYHOLD_AUDIT* variables over the
// defaults. A malformed value is KH_E_INVALID_ARGUMENT (nothing is
// changed). For programs that link the core without the configuration
// loader (EnsureConfigured); the ABI uses src/config.
Status ConfigFromAuditEnvironment(Config* out);

// ResolveDefaults fills in the default paths of cfg (file_path from
// KEYHOLD_HOME / HOME now, key_path beside it; "off" stays), so
// two configurations compare equal only if they write to the same place.
// Configure resolves them itself. KH_E_IO if no home directory is known.
Status ResolveDefaults(Config* cfg);

// Configure installs cfg for the process: flushes and closes the current
// sink (if any) and opens the new one lazily at the next record.
// kh_engine_open calls it whenever an engine's (resolved) configuration
// differs from the one in force. KH_E_INVALID_ARGUMENT for out-of-range
// values. EnsureConfigured configures from ConfigFromAuditEnvironment once,
// if nothing has configured the trail yet.
Status Configure(const Config& cfg);
Status EnsureConfigured();

// Operation: what a key use or a policy decision was about. Stable names
// in records (spec section 4.2); append only.
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
  kKeyExport,  // policy decisions about export
  kKeyImport,
  kDaemonRequest,  // keyholdd: a request its ACL refused (reason "acl_<op>")
  kStreamEncrypt,  // streaming AEAD: one record per segment call, bytes of the segments
  kStreamDecrypt,
  kCount,  // not an operation
};
const char* OpName(Op op);

// Lifecycle: key and keyset lifecycle events. Stable names in records.
enum class Lifecycle : uint8_t {
  kCreate,      // keyset generated
  kImport,      // raw / public / wrapped import
  kRotate,      // new primary key (key_id = the new key)
  kSetPrimary,  // key_id = the new primary
  kDisable,
  kEnable,
  kDestroy,  // key material destroyed (key_id)
  kExport,   // wrapped export, or a save under another KEK
  kLoad,     // keyset file loaded
  kSave,     // keyset file written
};
const char* LifecycleName(Lifecycle e);

// KeysetId: the keyset's 16-byte id (keyset::Keyset::id()), hex in records.
using KeysetId = std::span<const uint8_t, 16>;

// Caller: who asked, when known (daemon mode: the peer's credentials).
struct Caller {
  int64_t pid = -1;
  int64_t uid = -1;
  int64_t gid = -1;
};

// ScopedCaller sets this thread's caller identity for its lifetime; every
// record made on the thread meanwhile (including the aggregation key of use
// records) carries it. Nests: the previous identity comes back at scope
// exit. Without one, records carry only the writing process's pid.
class ScopedCaller {
 public:
  explicit ScopedCaller(const Caller& c);
  ~ScopedCaller();
  ScopedCaller(const ScopedCaller&) = delete;
  ScopedCaller& operator=(const ScopedCaller&) = delete;

 private:
  Caller prev_;
  bool prev_set_;
};

// RecordUse counts one key use into the current interval's aggregate:
// keyset id, key id (0 when the call failed before a key was chosen),
// operation, outcome, and the input/output byte counts. Hot path: no lock,
// no allocation once this thread has seen the (keyset, key, op, outcome).
// Never fails; a lost record is counted (fail open).
void RecordUse(KeysetId keyset, uint32_t key_id, Op op, kh_status outcome, uint64_t bytes_in,
               uint64_t bytes_out) noexcept;

// RecordLifecycle writes one lifecycle record now. The Status is the
// audit's: OK when written (or auditing is off), KH_E_IO when the sink
// failed and the policy is fail closed -- the caller must then fail too.
// outcome: the lifecycle call's own status. key_id 0 = the whole keyset.
Status RecordLifecycle(Lifecycle event, KeysetId keyset, uint32_t key_id, kh_status outcome);

// LifecycleAllowed: KH_E_IO when the policy is fail closed and the sink is
// known broken (its last write failed and reopening failed), so a
// lifecycle call can refuse before it changes anything.
Status LifecycleAllowed();

// RecordPolicy writes one policy decision: the operation, a short stable
// reason code (e.g. "alg_disabled", "export_forbidden"; [a-z0-9_], at most
// 64 chars, anything else is recorded as "invalid_reason"), and the
// outcome (KH_OK = allowed, else the status the caller returns). keyset
// may be empty (decision before a keyset exists). Same Status contract as
// RecordLifecycle.
Status RecordPolicy(Op op, std::string_view reason, kh_status outcome, std::span<const uint8_t> keyset = {});

// RecordSelfTest writes the power-on self-test result (once per process
// per sink; later calls for the same result are no-ops). failed_test: the
// first failing test's name, empty on success.
Status RecordSelfTest(bool passed, std::string_view failed_test);

// Flush writes the aggregated use records of every thread and a
// checkpoint. Called on the interval by the flusher thread, by
// kh_audit_flush, on kh_engine_close and at process exit.
Status Flush();

// Stats: counters for tests and metrics.
struct Stats {
  uint64_t records_written = 0;
  uint64_t dropped_records = 0;  // fail-open losses
  uint64_t write_failures = 0;
  uint64_t last_seq = 0;
};
Stats GetStats();

// ResetForTesting flushes, closes the sink and forgets the configuration
// and the per-process once flags. Tests only.
void ResetForTesting();

}  // namespace keyhold::audit
