// The transport-independent half of keyholdd: what the daemon serves, who
// may use it, and how one decoded request frame becomes one response frame
// (docs/spec/protocol.md, docs/daemon.md). Every operation is a call of the
// C ABI (include/keyhold/keyhold.h) on the daemon's own engine: the daemon
// re-implements nothing, so both deployment modes give the same results and
// statuses.
#pragma once

#include <keyhold/keyhold.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/config.h"
#include "wire/frame.h"

namespace keyhold::daemon {

// Caller: who is on the other end of a connection (SO_PEERCRED).
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

// StoredKeyset: a keyset file the daemon loaded (--keyset). Clients reach it
// by its keyset id (keyset.attach); its handle on the wire is derived from
// that id, so it survives reloads and daemon restarts.
struct StoredKeyset {
  std::string path;
  std::string name;    // file name without its last extension
  std::string id_hex;  // the 16-byte keyset id, 32 lower-case hex digits
  std::array<uint8_t, 16> id{};
  kh_handle handle = 0;  // on the daemon's engine
  uint64_t token = 0;    // the wire handle: bit 63 set (see StoredToken)
};

// StoredToken: the wire handle of the stored keyset with this id.
uint64_t StoredToken(const std::array<uint8_t, 16>& id);
inline bool IsStoredToken(uint64_t token) { return (token >> 63) != 0; }

// State: the keysets and ACL in force. Immutable once loaded; SIGHUP loads a
// new one and swaps it in, and a request holds the State it started with.
class State {
 public:
  ~State();
  // Load opens every keyset file of cfg in engine with kek (opened once at
  // start: a PKCS#11 module cannot be loaded under the seccomp filter). On
  // failure the error names the file (never its content) and nothing stays
  // open.
  static std::string Load(const Config& cfg, kh_handle engine, kh_handle kek, std::shared_ptr<State>* out);

  const StoredKeyset* FindToken(uint64_t token) const;
  const StoredKeyset* FindId(const uint8_t id[16]) const;
  // Classes: the operation classes (config.h) caller may use on ks; with
  // ks == nullptr, on keysets it created in the daemon.
  uint32_t Classes(const Caller& c, const StoredKeyset* ks) const;
  // Known: caller matches at least one rule (or is the daemon's own uid
  // when there are none).
  bool Known(const Caller& c) const;
  size_t keyset_count() const { return keysets_.size(); }
  const std::vector<StoredKeyset>& keysets() const { return keysets_; }

 private:
  std::vector<StoredKeyset> keysets_;
  std::unordered_map<uint64_t, size_t> by_token_;
  std::vector<AclRule> acl_;
  uid_t self_uid_ = 0;
};

// Registry: the engines and keysets clients created in the daemon
// (engine.open, keyset.generate, keyset.import_*). A client holds a random
// token; only the uid that created an object can use it, and a uid may hold
// at most max_objects_per_uid of them.
class Registry {
 public:
  explicit Registry(uint32_t max_per_uid) : max_per_uid_(max_per_uid) {}
  ~Registry();
  // Add registers h (an engine when engine_token == 0, else a keyset of that
  // engine) for owner. KH_E_LIMIT_EXCEEDED past the per-uid cap.
  Status Add(kh_handle h, uid_t owner, uint64_t engine_token, uint64_t* token);
  // Resolve: the engine handle behind token, if owner created it and its
  // kind matches; KH_E_STALE_HANDLE otherwise (an unknown token and another
  // uid's token look the same). engine_token (optional) receives the
  // token of the engine the object belongs to.
  Status Resolve(uint64_t token, uid_t owner, bool engine, kh_handle* out,
                 uint64_t* engine_token = nullptr) const;
  // kDaemonEngine: the engine_token of objects made on the daemon's own
  // engine (streams of stored keysets); never a token.
  static constexpr uint64_t kDaemonEngine = ~uint64_t{0};
  // Remove forgets token (and, for an engine, every keyset of it) and
  // returns the engine handle to close.
  Status Remove(uint64_t token, uid_t owner, kh_handle* out, bool* was_engine);
  size_t size() const;

 private:
  struct Entry {
    kh_handle h;
    uid_t owner;
    uint64_t engine_token;  // 0 for an engine
  };
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, Entry> map_;
  std::unordered_map<uid_t, uint32_t> per_uid_;
  uint32_t max_per_uid_;
};

// Metrics: what the daemon counts (rendered for Prometheus by Render).
class Metrics {
 public:
  static constexpr size_t kOps = 128;
  static constexpr size_t kBuckets = 12;  // latency upper bounds in µs, see kBoundsUs
  static constexpr uint32_t kBoundsUs[kBuckets] = {5,   10,   25,   50,    100,    250,
                                                   500, 1000, 2500, 10000, 100000, 1000000};
  void Count(uint16_t op, uint32_t status, uint64_t items, uint64_t ns, uint64_t bytes_in,
             uint64_t bytes_out);
  void Denied() { denied_.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<int64_t> connections{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<int64_t> in_flight{0};
  std::atomic<uint64_t> buffered_bytes{0};
  std::atomic<uint64_t> reloads{0};
  std::atomic<uint64_t> reload_failures{0};
  std::string Render() const;

 private:
  struct PerOp {
    std::atomic<uint64_t> ok{0}, failed{0}, items{0}, ns{0}, bytes_in{0}, bytes_out{0};
    std::array<std::atomic<uint64_t>, kBuckets + 1> hist{};
  };
  std::array<PerOp, kOps> ops_{};
  std::atomic<uint64_t> denied_{0};
};

// Service: everything a request needs. Thread-safe.
class Service {
 public:
  Service(kh_handle engine, uint32_t max_per_uid) : engine_(engine), registry_(max_per_uid) {}
  std::shared_ptr<State> state() const;
  void SetState(std::shared_ptr<State> s);
  Registry& registry() { return registry_; }
  Metrics& metrics() { return metrics_; }
  kh_handle engine() const { return engine_; }
  std::atomic<bool> ready{false};

  // Handle runs one decoded request and appends the response frame (length
  // prefix included) to out.
  void Handle(const Caller& caller, const wire::FrameHeader& h, const std::vector<wire::RequestItem>& items,
              std::vector<uint8_t>* out);
  // HandleBytes decodes body (a frame without its length prefix) and
  // handles it; a frame that does not decode gets a response with the
  // frame-level status and no item. Returns false if the connection must
  // be closed after the response (unknown protocol version).
  bool HandleBytes(const Caller& caller, ByteView body, std::vector<wire::RequestItem>* scratch,
                   std::vector<uint8_t>* out);
  // RenderMetrics: the daemon's metrics and its engine's, Prometheus text.
  std::string RenderMetrics() const;
  // ErrorFrame appends a response with a frame-level status and no item.
  static void ErrorFrame(uint64_t request_id, uint16_t op, kh_status st, std::vector<uint8_t>* out);

 private:
  kh_handle engine_;
  mutable std::mutex state_mu_;
  std::shared_ptr<State> state_;
  Registry registry_;
  Metrics metrics_;
};

// ClassOf: the operation class an op needs (config.h); 0 for the ops any
// known caller may use.
uint32_t ClassOf(uint16_t op);

}  // namespace keyhold::daemon
