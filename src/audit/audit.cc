#include "audit/audit.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/log_file.h"
#include "core/home.h"

namespace keyhold::audit {
namespace {

// --------------------------------------------------------------- caller

// Caller state lives in ThreadState (below): one thread-local access per
// use, which matters in the shared library (each one is a __tls_get_addr).

// ------------------------------------------------------------ aggregation
//
// Each thread counts its uses in its own table of slots; only that thread
// writes a slot's key and counters, the flusher only reads them, so the
// hot path needs no lock and no read-modify-write (docs/decisions/0014).

struct AggKey {
  std::array<uint8_t, 16> keyset{};
  uint32_t key_id = 0;
  uint8_t op = 0;
  int32_t outcome = 0;
  int64_t pid = -1, uid = -1, gid = -1;
  auto operator<=>(const AggKey&) const = default;
};

struct AggValue {
  uint64_t count = 0, bytes_in = 0, bytes_out = 0;
};

struct Slot {
  std::atomic<uint32_t> used{0};
  AggKey key;  // written once by the owner before used is set (release)
  std::atomic<uint64_t> count{0}, bytes_in{0}, bytes_out{0};
  AggValue flushed;  // the flusher's: what it has already reported
};

struct ThreadTable {
  static constexpr size_t kSlots = 256;
  std::array<Slot, kSlots> slots;
  std::atomic<bool> dead{false};
};

// ThreadState: everything the hot path needs from its thread.
struct ThreadState {
  ThreadTable* table = nullptr;
  Caller caller;
  bool caller_set = false;
};
// initial-exec: a fixed offset from the thread pointer, no __tls_get_addr
// call in the shared library (40 bytes of the static TLS surplus that glibc
// keeps for libraries; dlopen'ed late into a process that used it all up,
// libkeyhold.so would fail to load).
thread_local ThreadState tl __attribute__((tls_model("initial-exec")));

// g_enabled: auditing on (constant-initialised, so the hot path reads it
// without a static-init guard).
std::atomic<bool> g_enabled{false};

// TableOwner marks its thread's table dead at thread exit; the flusher
// reports what is left and frees it.
struct TableOwner {
  std::shared_ptr<ThreadTable> table;
  ~TableOwner() {
    if (table) table->dead.store(true, std::memory_order_release);
    tl.table = nullptr;
  }
};

// -------------------------------------------------------------- state

struct State {
  std::mutex mu;  // guards everything below except the atomics
  Config cfg;
  bool configured = false;
  std::shared_ptr<LogFile> log;
  bool selftest_recorded = false;
  std::string window_start;

  std::mutex tables_mu;  // guards tables and overflow
  std::vector<std::shared_ptr<ThreadTable>> tables;
  std::map<AggKey, AggValue> overflow;  // a full thread table spills here

  std::mutex flusher_mu;  // guards the flusher thread's life
  std::thread flusher;
  pid_t flusher_pid = 0;  // the process that started it (a forked child has no flusher)
  std::condition_variable cv;
  bool stop = false;  // guarded by flusher_mu

  std::mutex flush_mu;  // one flush at a time, so records stay in window order

  std::atomic<uint64_t> written{0}, dropped{0}, failures{0}, unreported_drops{0};
};

// S: the process's audit state; never destroyed (the at-exit flush runs
// from an atexit handler, and static destructors run in no useful order).
State& S() {
  static State* s = new State;
  return *s;
}

const char* GetEnv(const char* name) { return ::secure_getenv(name); }

Status DefaultHome(std::string* out) { return core::KeyholdHome(out); }

bool ParseU64(std::string_view s, uint64_t lo, uint64_t hi, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ParseBool(std::string_view s, bool* out) {
  if (s == "1" || s == "on" || s == "true" || s == "yes") {
    *out = true;
    return true;
  }
  if (s == "0" || s == "off" || s == "false" || s == "no") {
    *out = false;
    return true;
  }
  return false;
}

Status Validate(const Config& c) {
  if (c.interval_ms < 10 || c.interval_ms > 86400000) return KH_E_INVALID_ARGUMENT;
  if (c.checkpoint_every < 1 || c.checkpoint_every > 1000000) return KH_E_INVALID_ARGUMENT;
  if (c.max_file_bytes != 0 && c.max_file_bytes < 4096) return KH_E_INVALID_ARGUMENT;
  if (c.file_path.find('\0') != std::string::npos || c.key_path.find('\0') != std::string::npos) {
    return KH_E_INVALID_ARGUMENT;
  }
  return OkStatus();
}

// Resolve fills in the default paths.
Status Resolve(Config* c) {
  if (c->file_path.empty()) {
    std::string home;
    KH_RETURN_IF_ERROR(DefaultHome(&home));
    c->file_path = home + "/audit.log";
  }
  // "off" stays "off" (no file sink), so resolving twice changes nothing.
  if (c->key_path.empty() && c->file_path != "off") {
    const size_t slash = c->file_path.rfind('/');
    c->key_path =
        (slash == std::string::npos ? std::string() : c->file_path.substr(0, slash + 1)) + "audit.key";
  }
  return OkStatus();
}

void FlusherLoop() {
  State& s = S();
  std::unique_lock<std::mutex> l(s.flusher_mu);
  while (!s.stop) {
    uint32_t interval = 0;
    {
      const std::lock_guard<std::mutex> g(s.mu);
      interval = s.cfg.interval_ms;
    }
    s.cv.wait_for(l, std::chrono::milliseconds(interval), [&] { return s.stop; });
    if (s.stop) break;
    l.unlock();
    (void)Flush();
    l.lock();
  }
}

void StopFlusher() {
  State& s = S();
  std::thread t;
  {
    const std::lock_guard<std::mutex> l(s.flusher_mu);
    s.stop = true;
    t = std::move(s.flusher);
  }
  s.cv.notify_all();
  if (!t.joinable()) return;
  if (s.flusher_pid == ::getpid()) {
    t.join();
  } else {
    // A forked child: the thread ran in the parent and cannot be joined
    // here; its handle is kept rather than destroyed (which would abort).
    static auto* orphans = new std::vector<std::thread>;
    orphans->push_back(std::move(t));
  }
}

void StartFlusher() {
  State& s = S();
  const std::lock_guard<std::mutex> l(s.flusher_mu);
  if (s.flusher.joinable()) return;
  s.stop = false;
  s.flusher = std::thread(FlusherLoop);
  s.flusher_pid = ::getpid();
}

void AtExit() {
  StopFlusher();
  (void)Flush();
}

// Install makes cfg current. The caller holds no lock.
Status Install(Config cfg) {
  KH_RETURN_IF_ERROR(Validate(cfg));
  KH_RETURN_IF_ERROR(Resolve(&cfg));
  StopFlusher();
  (void)Flush();
  State& s = S();
  {
    const std::lock_guard<std::mutex> l(s.mu);
    s.cfg = cfg;
    s.configured = true;
    s.selftest_recorded = false;
    s.log = cfg.enabled ? std::make_shared<LogFile>(cfg.file_path == "off" ? std::string() : cfg.file_path,
                                                    cfg.key_path, cfg.syslog, cfg.max_file_bytes)
                        : nullptr;
    s.window_start = NowRfc3339();
    g_enabled.store(cfg.enabled, std::memory_order_release);
  }
  static std::once_flag once;
  std::call_once(once, [] { (void)std::atexit(AtExit); });
  if (cfg.enabled) StartFlusher();
  return OkStatus();
}

void AppendCaller(std::string* body) {
  if (!tl.caller_set) return;
  body->append(",\"caller\":{\"pid\":")
      .append(std::to_string(tl.caller.pid))
      .append(",\"uid\":")
      .append(std::to_string(tl.caller.uid))
      .append(",\"gid\":")
      .append(std::to_string(tl.caller.gid))
      .push_back('}');
}

// WriteNow writes one synchronous record (lifecycle, policy, self-test)
// and applies the failure policy.
Status WriteNow(std::string body) {
  State& s = S();
  std::shared_ptr<LogFile> log;
  FailurePolicy policy;
  uint32_t every;
  {
    const std::lock_guard<std::mutex> l(s.mu);
    log = s.log;
    policy = s.cfg.lifecycle_failure;
    every = s.cfg.checkpoint_every;
  }
  if (!log) return OkStatus();
  AppendCaller(&body);
  const Status st = log->Append({std::move(body)}, false, every);
  if (st.ok()) {
    s.written.fetch_add(1, std::memory_order_relaxed);
    return OkStatus();
  }
  s.failures.fetch_add(1, std::memory_order_relaxed);
  if (policy == FailurePolicy::kFailClosed) return KH_E_IO;
  s.dropped.fetch_add(1, std::memory_order_relaxed);
  s.unreported_drops.fetch_add(1, std::memory_order_relaxed);
  return OkStatus();
}

std::string KeysetHex(std::span<const uint8_t> id) { return Hex(id); }

ThreadTable* NewTable() {
  static thread_local TableOwner owner;
  auto t = std::make_shared<ThreadTable>();
  {
    State& s = S();
    const std::lock_guard<std::mutex> l(s.tables_mu);
    s.tables.push_back(t);
  }
  // A crowded table is retired: the flusher reports what is left in it and
  // frees it, as for a thread that exited.
  if (owner.table) owner.table->dead.store(true, std::memory_order_release);
  owner.table = t;
  tl.table = t.get();
  return tl.table;
}

void Spill(const AggKey& k, uint64_t in, uint64_t out) {
  State& s = S();
  const std::lock_guard<std::mutex> l(s.tables_mu);
  auto& v = s.overflow[k];
  ++v.count;
  v.bytes_in += in;
  v.bytes_out += out;
}

inline void Bump(std::atomic<uint64_t>& a, uint64_t d) {
  a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

}  // namespace

const char* OpName(Op op) {
  static constexpr const char* kNames[] = {
      "aead_encrypt",   "aead_decrypt",    "aead_seal_nonce",  "aead_open_nonce", "daead_encrypt",
      "daead_decrypt",  "mac_compute",     "mac_verify",       "sig_sign",        "sig_verify",
      "sig_sign_plain", "sig_sign_digest", "sig_verify_plain", "kex_agree",       "kdf_derive",
      "key_export",     "key_import",      "daemon_request",   "stream_encrypt",  "stream_decrypt",
  };
  static_assert(std::size(kNames) == static_cast<size_t>(Op::kCount));
  const auto i = static_cast<size_t>(op);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

const char* LifecycleName(Lifecycle e) {
  switch (e) {
    case Lifecycle::kCreate:
      return "create";
    case Lifecycle::kImport:
      return "import";
    case Lifecycle::kRotate:
      return "rotate";
    case Lifecycle::kSetPrimary:
      return "set_primary";
    case Lifecycle::kDisable:
      return "disable";
    case Lifecycle::kEnable:
      return "enable";
    case Lifecycle::kDestroy:
      return "destroy";
    case Lifecycle::kExport:
      return "export";
    case Lifecycle::kLoad:
      return "load";
    case Lifecycle::kSave:
      return "save";
  }
  return "unknown";
}

Status ConfigFromAuditEnvironment(Config* out) {
  Config c = *out;
  if (const char* v = GetEnv("KEYHOLD_AUDIT"); v != nullptr && *v != '\0') {
    if (!ParseBool(v, &c.enabled)) return KH_E_INVALID_ARGUMENT;
  }
  if (const char* v = GetEnv("KEYHOLD_AUDIT_FILE"); v != nullptr && *v != '\0') c.file_path = v;
  if (const char* v = GetEnv("KEYHOLD_AUDIT_KEY"); v != nullptr && *v != '\0') c.key_path = v;
  if (const char* v = GetEnv("KEYHOLD_AUDIT_SYSLOG"); v != nullptr && *v != '\0') {
    if (!ParseBool(v, &c.syslog)) return KH_E_INVALID_ARGUMENT;
  }
  if (const char* v = GetEnv("KEYHOLD_AUDIT_FAILURE"); v != nullptr && *v != '\0') {
    const std::string_view p(v);
    if (p == "closed") {
      c.lifecycle_failure = FailurePolicy::kFailClosed;
    } else if (p == "open") {
      c.lifecycle_failure = FailurePolicy::kFailOpen;
    } else {
      return KH_E_INVALID_ARGUMENT;
    }
  }
  uint64_t n = 0;
  if (const char* v = GetEnv("KEYHOLD_AUDIT_INTERVAL_MS"); v != nullptr && *v != '\0') {
    if (!ParseU64(v, 10, 86400000, &n)) return KH_E_INVALID_ARGUMENT;
    c.interval_ms = static_cast<uint32_t>(n);
  }
  if (const char* v = GetEnv("KEYHOLD_AUDIT_CHECKPOINT_EVERY"); v != nullptr && *v != '\0') {
    if (!ParseU64(v, 1, 1000000, &n)) return KH_E_INVALID_ARGUMENT;
    c.checkpoint_every = static_cast<uint32_t>(n);
  }
  if (const char* v = GetEnv("KEYHOLD_AUDIT_MAX_BYTES"); v != nullptr && *v != '\0') {
    if (!ParseU64(v, 0, UINT64_MAX, &n) || (n != 0 && n < 4096)) return KH_E_INVALID_ARGUMENT;
    c.max_file_bytes = n;
  }
  *out = c;
  return OkStatus();
}

Status ResolveDefaults(Config* cfg) { return Resolve(cfg); }

Status Configure(const Config& cfg) { return Install(cfg); }

Status EnsureConfigured() {
  State& s = S();
  {
    const std::lock_guard<std::mutex> l(s.mu);
    if (s.configured) return OkStatus();
  }
  Config cfg;
  KH_RETURN_IF_ERROR(ConfigFromAuditEnvironment(&cfg));
  // Two first engines racing: the second Install replaces the first's
  // identical sink, which flushes nothing yet.
  return Install(cfg);
}

ScopedCaller::ScopedCaller(const Caller& c) : prev_(tl.caller), prev_set_(tl.caller_set) {
  tl.caller = c;
  tl.caller_set = true;
}

ScopedCaller::~ScopedCaller() {
  tl.caller = prev_;
  tl.caller_set = prev_set_;
}

void RecordUse(KeysetId keyset, uint32_t key_id, Op op, kh_status outcome, uint64_t bytes_in,
               uint64_t bytes_out) noexcept {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  ThreadState& ts = tl;
  ThreadTable* t = ts.table;
  if (t == nullptr) {
    try {
      t = NewTable();
    } catch (...) {
      S().dropped.fetch_add(1, std::memory_order_relaxed);
      S().unreported_drops.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  uint64_t id0 = 0;
  std::memcpy(&id0, keyset.data(), sizeof id0);
  const int64_t pid = ts.caller_set ? ts.caller.pid : -1;
  const int64_t uid = ts.caller_set ? ts.caller.uid : -1;
  const int64_t gid = ts.caller_set ? ts.caller.gid : -1;
  uint64_t h =
      id0 ^ (uint64_t{key_id} * 0x9E3779B97F4A7C15ULL) ^
      ((uint64_t{static_cast<uint8_t>(op)} << 32 | static_cast<uint32_t>(outcome)) * 0xC2B2AE3D27D4EB4FULL) ^
      (static_cast<uint64_t>(pid) * 0x165667B19E3779F9ULL) ^ static_cast<uint64_t>(uid);
  h ^= h >> 29;
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (size_t probe = 0; probe < 8; ++probe) {
      Slot& sl = t->slots[(h + probe) % ThreadTable::kSlots];
      if (sl.used.load(std::memory_order_relaxed) == 0) {
        sl.key.keyset = {};
        std::memcpy(sl.key.keyset.data(), keyset.data(), keyset.size());
        sl.key.key_id = key_id;
        sl.key.op = static_cast<uint8_t>(op);
        sl.key.outcome = static_cast<int32_t>(outcome);
        sl.key.pid = pid;
        sl.key.uid = uid;
        sl.key.gid = gid;
        sl.used.store(1, std::memory_order_release);
      } else if (sl.key.key_id != key_id || sl.key.op != static_cast<uint8_t>(op) ||
                 sl.key.outcome != static_cast<int32_t>(outcome) || sl.key.pid != pid || sl.key.uid != uid ||
                 sl.key.gid != gid || std::memcmp(sl.key.keyset.data(), keyset.data(), keyset.size()) != 0) {
        continue;
      }
      Bump(sl.count, 1);
      Bump(sl.bytes_in, bytes_in);
      Bump(sl.bytes_out, bytes_out);
      return;
    }
    // Eight probes missed: the table is crowded (a thread that used many
    // keys or served many callers). A fresh one (slow path: one allocation)
    // keeps later uses lock-free; the old one goes to the flusher.
    if (attempt == 0) {
      try {
        t = NewTable();
      } catch (...) {
        break;
      }
    }
  }
  // No table to be had: counted under a lock.
  try {
    AggKey k;
    std::memcpy(k.keyset.data(), keyset.data(), keyset.size());
    k.key_id = key_id;
    k.op = static_cast<uint8_t>(op);
    k.outcome = static_cast<int32_t>(outcome);
    k.pid = pid;
    k.uid = uid;
    k.gid = gid;
    Spill(k, bytes_in, bytes_out);
  } catch (...) {
    S().dropped.fetch_add(1, std::memory_order_relaxed);
    S().unreported_drops.fetch_add(1, std::memory_order_relaxed);
  }
}

Status LifecycleAllowed() {
  State& s = S();
  std::shared_ptr<LogFile> log;
  FailurePolicy policy;
  {
    const std::lock_guard<std::mutex> l(s.mu);
    log = s.log;
    policy = s.cfg.lifecycle_failure;
  }
  if (!log || policy != FailurePolicy::kFailClosed) return OkStatus();
  // An empty append opens the file and reads its tail: it proves the sink
  // works now, before the call changes anything.
  return log->Append({}, false, UINT32_MAX).ok() ? OkStatus() : Status(KH_E_IO);
}

Status RecordLifecycle(Lifecycle event, KeysetId keyset, uint32_t key_id, kh_status outcome) {
  if (!g_enabled.load(std::memory_order_relaxed)) return OkStatus();
  std::string body = "\"type\":\"lifecycle\",\"event\":\"";
  body.append(LifecycleName(event)).append("\",\"keyset\":\"").append(KeysetHex(keyset));
  body.append("\",\"key\":").append(std::to_string(key_id)).append(",\"outcome\":\"");
  body.append(StatusName(outcome)).push_back('"');
  return WriteNow(std::move(body));
}

Status RecordPolicy(Op op, std::string_view reason, kh_status outcome, std::span<const uint8_t> keyset) {
  if (!g_enabled.load(std::memory_order_relaxed)) return OkStatus();
  bool valid = !reason.empty() && reason.size() <= 64;
  for (const char c : reason) valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  std::string body = "\"type\":\"policy\",\"op\":\"";
  body.append(OpName(op)).append("\",\"reason\":\"").append(valid ? reason : "invalid_reason");
  body.append("\",\"outcome\":\"").append(StatusName(outcome)).push_back('"');
  if (keyset.size() == 16) body.append(",\"keyset\":\"").append(KeysetHex(keyset)).push_back('"');
  return WriteNow(std::move(body));
}

Status RecordSelfTest(bool passed, std::string_view failed_test) {
  State& s = S();
  if (!g_enabled.load(std::memory_order_relaxed)) return OkStatus();
  {
    const std::lock_guard<std::mutex> l(s.mu);
    if (s.selftest_recorded) return OkStatus();
    s.selftest_recorded = true;
  }
  std::string body = "\"type\":\"selftest\",\"result\":\"";
  body.append(passed ? "passed" : "failed").push_back('"');
  if (!passed) {
    body.append(",\"test\":");
    AppendJsonString(&body, failed_test.substr(0, 128));
  }
  const Status st = WriteNow(std::move(body));
  if (!st.ok()) {
    const std::lock_guard<std::mutex> l(s.mu);
    s.selftest_recorded = false;  // try again at the next engine open
  }
  return st;
}

Status Flush() {
  State& s = S();
  const std::lock_guard<std::mutex> fl(s.flush_mu);
  std::shared_ptr<LogFile> log;
  uint32_t every;
  std::string from;
  const std::string to = NowRfc3339();
  {
    const std::lock_guard<std::mutex> l(s.mu);
    log = s.log;
    every = s.cfg.checkpoint_every;
    from = s.window_start;
    s.window_start = to;
  }
  std::map<AggKey, AggValue> agg;
  {
    const std::lock_guard<std::mutex> l(s.tables_mu);
    agg.swap(s.overflow);
    for (auto it = s.tables.begin(); it != s.tables.end();) {
      ThreadTable& t = **it;
      const bool dead = t.dead.load(std::memory_order_acquire);
      for (Slot& sl : t.slots) {
        if (sl.used.load(std::memory_order_acquire) == 0) continue;
        const AggValue now{sl.count.load(std::memory_order_relaxed),
                           sl.bytes_in.load(std::memory_order_relaxed),
                           sl.bytes_out.load(std::memory_order_relaxed)};
        if (now.count == sl.flushed.count) continue;
        AggValue& v = agg[sl.key];
        v.count += now.count - sl.flushed.count;
        v.bytes_in += now.bytes_in - sl.flushed.bytes_in;
        v.bytes_out += now.bytes_out - sl.flushed.bytes_out;
        sl.flushed = now;
      }
      it = dead ? s.tables.erase(it) : it + 1;
    }
  }
  if (!log) return OkStatus();
  std::vector<std::string> bodies;
  bodies.reserve(agg.size() + 1);
  const uint64_t drops = s.unreported_drops.exchange(0, std::memory_order_relaxed);
  if (drops != 0) bodies.push_back("\"type\":\"dropped\",\"records\":" + std::to_string(drops));
  for (const auto& [k, v] : agg) {
    std::string b = "\"type\":\"use\",\"keyset\":\"";
    b.append(KeysetHex(k.keyset)).append("\",\"key\":").append(std::to_string(k.key_id));
    b.append(",\"op\":\"").append(OpName(static_cast<Op>(k.op))).append("\",\"outcome\":\"");
    b.append(StatusName(static_cast<kh_status>(k.outcome)))
        .append("\",\"count\":")
        .append(std::to_string(v.count));
    b.append(",\"bytes_in\":").append(std::to_string(v.bytes_in));
    b.append(",\"bytes_out\":").append(std::to_string(v.bytes_out));
    b.append(",\"from\":").append("\"" + from + "\"").append(",\"to\":").append("\"" + to + "\"");
    if (k.pid >= 0 || k.uid >= 0) {
      b.append(",\"caller\":{\"pid\":").append(std::to_string(k.pid)).append(",\"uid\":");
      b.append(std::to_string(k.uid)).append(",\"gid\":").append(std::to_string(k.gid)).push_back('}');
    }
    bodies.push_back(std::move(b));
  }
  const Status st = log->Append(bodies, true, every);
  if (st.ok()) {
    s.written.fetch_add(bodies.size(), std::memory_order_relaxed);
    return OkStatus();
  }
  // Use records fail open: counted, reported by the next flush that works.
  s.failures.fetch_add(1, std::memory_order_relaxed);
  const uint64_t lost = bodies.size() - (drops != 0 ? 1 : 0) + drops;
  s.dropped.fetch_add(bodies.size() - (drops != 0 ? 1 : 0), std::memory_order_relaxed);
  s.unreported_drops.fetch_add(lost, std::memory_order_relaxed);
  return st;
}

Stats GetStats() {
  State& s = S();
  Stats out;
  out.records_written = s.written.load(std::memory_order_relaxed);
  out.dropped_records = s.dropped.load(std::memory_order_relaxed);
  out.write_failures = s.failures.load(std::memory_order_relaxed);
  std::shared_ptr<LogFile> log;
  {
    const std::lock_guard<std::mutex> l(s.mu);
    log = s.log;
  }
  out.last_seq = log ? log->last_seq() : 0;
  return out;
}

void ResetForTesting() {
  StopFlusher();
  (void)Flush();
  State& s = S();
  const std::lock_guard<std::mutex> l(s.mu);
  s.log.reset();
  s.configured = false;
  s.selftest_recorded = false;
  g_enabled.store(false, std::memory_order_release);
  s.written = 0;
  s.dropped = 0;
  s.failures = 0;
  s.unreported_drops = 0;
}

}  // namespace keyhold::audit
