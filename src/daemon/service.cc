#include "daemon/service.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <new>

#include "audit/audit.h"
#include "daemon/log.h"

namespace keyhold::daemon {

using wire::Op;
using wire::PutU32;
using wire::PutU64;

uint64_t StoredToken(const std::array<uint8_t, 16>& id) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | id[i];
  return v | (uint64_t{1} << 63);
}

namespace {

std::string Hex(const uint8_t* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kHex[p[i] >> 4]);
    s.push_back(kHex[p[i] & 15]);
  }
  return s;
}

std::string BaseName(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  size_t dot = b.find_last_of('.');
  if (dot != std::string::npos && dot != 0) b.resize(dot);
  return b;
}

bool RuleMatches(const AclRule& r, const Caller& c) {
  return (r.uid && *r.uid == c.uid) || (r.gid && *r.gid == c.gid);
}

bool RuleCovers(const AclRule& r, const StoredKeyset& ks) {
  for (const std::string& k : r.keysets) {
    if (k == "*" || k == ks.name || k == ks.id_hex || k == ks.path) return true;
  }
  return false;
}

}  // namespace

State::~State() {
  for (const StoredKeyset& k : keysets_) (void)kh_handle_close(k.handle);
}

std::string State::Load(const Config& cfg, kh_handle engine, kh_handle kek, std::shared_ptr<State>* out) {
  auto st = std::make_shared<State>();
  st->acl_ = cfg.acl;
  st->self_uid_ = cfg.run_uid;
  for (const std::string& path : cfg.keyset_paths) {
    StoredKeyset k;
    k.path = path;
    k.name = BaseName(path);
    kh_keyset_file_info info{};
    size_t nkeys = 0;
    kh_status s = kh_keyset_file_info_get(path.data(), path.size(), &info, nullptr, 0, &nkeys);
    if (s == KH_E_BUFFER_TOO_SMALL) {
      std::vector<kh_key_file_info> keys(nkeys);
      s = kh_keyset_file_info_get(path.data(), path.size(), &info, keys.data(), keys.size(), &nkeys);
    }
    if (s == KH_OK) s = kh_keyset_load_file(engine, kek, path.data(), path.size(), &k.handle);
    if (s != KH_OK) return "keyset " + path + ": " + kh_status_name(s);
    std::memcpy(k.id.data(), info.keyset_id, 16);
    k.id_hex = Hex(k.id.data(), 16);
    k.token = StoredToken(k.id);
    if (st->by_token_.count(k.token) != 0) {
      (void)kh_handle_close(k.handle);
      return "keyset " + path + ": the same keyset id as another --keyset";
    }
    st->by_token_[k.token] = st->keysets_.size();
    st->keysets_.push_back(std::move(k));
  }
  *out = std::move(st);
  return "";
}

const StoredKeyset* State::FindToken(uint64_t token) const {
  auto it = by_token_.find(token);
  return it == by_token_.end() ? nullptr : &keysets_[it->second];
}

const StoredKeyset* State::FindId(const uint8_t id[16]) const {
  for (const StoredKeyset& k : keysets_) {
    if (std::memcmp(k.id.data(), id, 16) == 0) return &k;
  }
  return nullptr;
}

uint32_t State::Classes(const Caller& c, const StoredKeyset* ks) const {
  if (acl_.empty()) return c.uid == self_uid_ ? static_cast<uint32_t>(kClassAll) : 0u;
  uint32_t classes = 0;
  for (const AclRule& r : acl_) {
    if (RuleMatches(r, c) && (ks == nullptr || RuleCovers(r, *ks))) classes |= r.classes;
  }
  return classes;
}

bool State::Known(const Caller& c) const {
  if (acl_.empty()) return c.uid == self_uid_;
  for (const AclRule& r : acl_) {
    if (RuleMatches(r, c)) return true;
  }
  return false;
}

// --- Registry ---

Registry::~Registry() {
  for (const auto& [token, e] : map_) {
    if (e.engine_token == 0) (void)kh_engine_close(e.h);
  }
}

Status Registry::Add(kh_handle h, uid_t owner, uint64_t engine_token, uint64_t* token) {
  std::unique_lock lock(mu_);
  uint32_t& n = per_uid_[owner];
  if (n >= max_per_uid_) return KH_E_LIMIT_EXCEEDED;
  uint64_t t = 0;
  do {
    KH_RETURN_IF_ERROR(kh_random_bytes(reinterpret_cast<uint8_t*>(&t), sizeof t));
    t &= ~(uint64_t{3} << 62);  // bit 63: stored keysets; bit 62: never issued (clients' own)
  } while (t == 0 || map_.count(t) != 0);
  map_[t] = Entry{h, owner, engine_token};
  ++n;
  *token = t;
  return OkStatus();
}

Status Registry::Resolve(uint64_t token, uid_t owner, bool engine, kh_handle* out,
                         uint64_t* engine_token) const {
  std::shared_lock lock(mu_);
  auto it = map_.find(token);
  if (it == map_.end() || it->second.owner != owner) return KH_E_STALE_HANDLE;
  if ((it->second.engine_token == 0) != engine) return KH_E_WRONG_HANDLE_TYPE;
  *out = it->second.h;
  if (engine_token != nullptr) *engine_token = it->second.engine_token;
  return OkStatus();
}

Status Registry::Remove(uint64_t token, uid_t owner, kh_handle* out, bool* was_engine) {
  std::unique_lock lock(mu_);
  auto it = map_.find(token);
  if (it == map_.end() || it->second.owner != owner) return KH_E_STALE_HANDLE;
  *out = it->second.h;
  *was_engine = it->second.engine_token == 0;
  map_.erase(it);
  uint32_t removed = 1;
  if (*was_engine) {
    for (auto i = map_.begin(); i != map_.end();) {
      if (i->second.engine_token == token) {
        i = map_.erase(i);
        ++removed;
      } else {
        ++i;
      }
    }
  }
  uint32_t& n = per_uid_[owner];
  n = n > removed ? n - removed : 0;
  return OkStatus();
}

size_t Registry::size() const {
  std::shared_lock lock(mu_);
  return map_.size();
}

// --- Metrics ---

void Metrics::Count(uint16_t op, uint32_t status, uint64_t items, uint64_t ns, uint64_t bytes_in,
                    uint64_t bytes_out) {
  PerOp& p = ops_[op < kOps ? op : 0];
  (status == KH_OK ? p.ok : p.failed).fetch_add(1, std::memory_order_relaxed);
  p.items.fetch_add(items, std::memory_order_relaxed);
  p.ns.fetch_add(ns, std::memory_order_relaxed);
  p.bytes_in.fetch_add(bytes_in, std::memory_order_relaxed);
  p.bytes_out.fetch_add(bytes_out, std::memory_order_relaxed);
  uint64_t us = ns / 1000;
  size_t b = 0;
  while (b < kBuckets && us > kBoundsUs[b]) ++b;
  p.hist[b].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Render() const {
  std::string s;
  auto line = [&](const std::string& name, const std::string& labels, uint64_t v) {
    s.append(name);
    if (!labels.empty()) {
      s.push_back('{');
      s.append(labels);
      s.push_back('}');
    }
    s.push_back(' ');
    s.append(std::to_string(v));
    s.push_back('\n');
  };
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    s += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    s += std::string(name) + " " + std::to_string(v) + "\n";
  };
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    s += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    s += std::string(name) + " " + std::to_string(v) + "\n";
  };
  gauge("keyholdd_connections", "Connections open now.", connections.load());
  counter("keyholdd_connections_total", "Connections accepted.", connections_total.load());
  counter("keyholdd_connections_refused_total", "Connections refused at the connection limit.",
          connections_refused.load());
  counter("keyholdd_protocol_errors_total", "Frames that did not decode.", protocol_errors.load());
  counter("keyholdd_timeouts_total", "Connections closed by the idle or read timeout.", timeouts.load());
  gauge("keyholdd_in_flight_requests", "Requests being executed now.", in_flight.load());
  gauge("keyholdd_buffered_bytes", "Bytes of incomplete frames held for all connections.",
        static_cast<int64_t>(buffered_bytes.load()));
  counter("keyholdd_reloads_total", "Successful SIGHUP reloads.", reloads.load());
  counter("keyholdd_reload_failures_total", "SIGHUP reloads that failed (the old state stays).",
          reload_failures.load());
  counter("keyholdd_denied_total", "Requests or items refused by the ACL.", denied_.load());
  s += "# HELP keyholdd_requests_total Requests by operation and outcome.\n# TYPE keyholdd_requests_total "
       "counter\n";
  for (size_t op = 1; op < kOps; ++op) {
    const PerOp& p = ops_[op];
    uint64_t ok = p.ok.load(), failed = p.failed.load();
    if (ok + failed == 0) continue;
    std::string l = std::string("op=\"") + wire::OpName(static_cast<uint16_t>(op)) + "\"";
    line("keyholdd_requests_total", l + ",outcome=\"ok\"", ok);
    line("keyholdd_requests_total", l + ",outcome=\"error\"", failed);
  }
  s +=
      "# HELP keyholdd_items_total Items executed (a batch has many).\n# TYPE keyholdd_items_total counter\n";
  for (size_t op = 1; op < kOps; ++op) {
    if (ops_[op].items.load() == 0) continue;
    line("keyholdd_items_total", std::string("op=\"") + wire::OpName(static_cast<uint16_t>(op)) + "\"",
         ops_[op].items.load());
  }
  s += "# HELP keyholdd_bytes_total Payload bytes received and sent.\n# TYPE keyholdd_bytes_total counter\n";
  for (size_t op = 1; op < kOps; ++op) {
    const PerOp& p = ops_[op];
    if (p.ok.load() + p.failed.load() == 0) continue;
    std::string l = std::string("op=\"") + wire::OpName(static_cast<uint16_t>(op)) + "\"";
    line("keyholdd_bytes_total", l + ",direction=\"in\"", p.bytes_in.load());
    line("keyholdd_bytes_total", l + ",direction=\"out\"", p.bytes_out.load());
  }
  s += "# HELP keyholdd_request_duration_seconds Time to execute a request in the daemon.\n"
       "# TYPE keyholdd_request_duration_seconds histogram\n";
  for (size_t op = 1; op < kOps; ++op) {
    const PerOp& p = ops_[op];
    uint64_t total = p.ok.load() + p.failed.load();
    if (total == 0) continue;
    std::string l = std::string("op=\"") + wire::OpName(static_cast<uint16_t>(op)) + "\"";
    uint64_t cum = 0;
    for (size_t b = 0; b < kBuckets; ++b) {
      cum += p.hist[b].load();
      char le[32];
      (void)std::snprintf(le, sizeof le, "%g", kBoundsUs[b] / 1e6);
      line("keyholdd_request_duration_seconds_bucket", l + ",le=\"" + le + "\"", cum);
    }
    cum += p.hist[kBuckets].load();
    line("keyholdd_request_duration_seconds_bucket", l + ",le=\"+Inf\"", cum);
    char sum[48];
    (void)std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(p.ns.load()) / 1e9);
    s += "keyholdd_request_duration_seconds_sum{" + l + "} " + sum + "\n";
    line("keyholdd_request_duration_seconds_count", l, cum);
  }
  return s;
}

// --- Service ---

std::string Service::RenderMetrics() const {
  std::string m = metrics_.Render();
  // The engine's own metrics (operations, latencies, refusals by policy,
  // keys' use and headroom, guarded memory): the same set an in-process
  // service exposes (docs/spec/metrics.md).
  std::string engine(256 << 10, '\0');
  size_t n = 0;
  kh_status s = kh_engine_metrics_get(engine_, KH_METRICS_PROMETHEUS, engine.data(), engine.size(), &n);
  if (s == KH_E_BUFFER_TOO_SMALL) {
    engine.resize(n);
    s = kh_engine_metrics_get(engine_, KH_METRICS_PROMETHEUS, engine.data(), engine.size(), &n);
  }
  if (s == KH_OK) m.append(engine.data(), n);
  return m;
}

std::shared_ptr<State> Service::state() const {
  std::lock_guard lock(state_mu_);
  return state_;
}

void Service::SetState(std::shared_ptr<State> s) {
  std::shared_ptr<State> old;
  {
    std::lock_guard lock(state_mu_);
    old = std::move(state_);
    state_ = std::move(s);
  }
  // old is released here, outside the lock; requests still holding it keep
  // it (and its keyset handles) alive until they finish.
}

uint32_t ClassOf(uint16_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kAeadEncrypt:
    case Op::kAeadSealNonce:
    case Op::kDaeadEncrypt:
      return kClassEncrypt;
    case Op::kAeadDecrypt:
    case Op::kAeadOpenNonce:
    case Op::kDaeadDecrypt:
      return kClassDecrypt;
    case Op::kMacCompute:
      return kClassMac;
    case Op::kMacVerify:
    case Op::kSigVerify:
    case Op::kSigVerifyPlain:
      return kClassVerify;
    case Op::kSigSign:
    case Op::kSigSignPlain:
    case Op::kSigSignDigest:
      return kClassSign;
    case Op::kKdfDerive:
    case Op::kKexAgree:
      return kClassDerive;
    case Op::kKeysetInfo:
    case Op::kKeysetKeyInfo:
    case Op::kKeysetPublicKey:
    case Op::kKeysetAttach:
      return kClassInfo;
    case Op::kKeysetGenerate:
    case Op::kKeysetImportRaw:
    case Op::kKeysetImportPublic:
      return kClassGenerate;
    case Op::kKeysetRotate:
    case Op::kKeysetSetPrimary:
    case Op::kKeysetDisable:
    case Op::kKeysetEnable:
    case Op::kKeysetDestroyKey:
      return kClassManage;
    case Op::kRandomBytes:
      return kClassRandom;
    case Op::kStreamEncryptBegin:
    case Op::kStreamSeal:
      return kClassEncrypt;
    case Op::kStreamDecryptBegin:
    case Op::kStreamOpen:
      return kClassDecrypt;
    case Op::kStreamInfo:
      return kClassInfo;
    case Op::kMetrics:
    case Op::kEngineStats:
    case Op::kEngineConfig:
    case Op::kEngineMetrics:
      return kClassMetrics;
    default:
      return 0;
  }
}

namespace {

// Out: where an item's output goes, inside the response buffer.
struct ItemOut {
  uint8_t* p;
  size_t cap;
};

// Exec is the per-request context of Service::Handle.
class Exec {
 public:
  Exec(Service* svc, const Caller& c, const State& st) : svc_(svc), c_(c), st_(st) {}

  // Keyset resolves a wire keyset handle and checks the ACL for op.
  kh_status Keyset(uint64_t token, uint16_t op, kh_handle* h) {
    uint32_t cls = ClassOf(op);
    if (IsStoredToken(token)) {
      const StoredKeyset* ks = st_.FindToken(token);
      if (ks == nullptr) return KH_E_STALE_HANDLE;
      if ((st_.Classes(c_, ks) & cls) == 0) return Deny(op, ks->name, ks->id);
      *h = ks->handle;
      return KH_OK;
    }
    kh_status s = svc_->registry().Resolve(token, c_.uid, /*engine=*/false, h).code();
    if (s != KH_OK) return s;
    if ((st_.Classes(c_, nullptr) & cls) == 0) return Deny(op, "");
    return KH_OK;
  }

  // Lookup resolves a keyset handle the caller may use for something,
  // without naming an operation.
  kh_status Lookup(uint64_t token, kh_handle* h) {
    if (IsStoredToken(token)) {
      const StoredKeyset* ks = st_.FindToken(token);
      if (ks == nullptr) return KH_E_STALE_HANDLE;
      if (st_.Classes(c_, ks) == 0) return KH_E_POLICY_DENIED;
      *h = ks->handle;
      return KH_OK;
    }
    return svc_->registry().Resolve(token, c_.uid, /*engine=*/false, h).code();
  }

  kh_status Deny(uint16_t op, const std::string& keyset, std::span<const uint8_t> keyset_id = {}) {
    svc_->metrics().Denied();
    // The audit trail gets the decision (the caller identity is the request's,
    // set in Service::Handle): reason "acl_" + the op's name.
    std::string reason = "acl_";
    for (const char* p = wire::OpName(op); *p != '\0'; ++p) reason.push_back(*p == '.' ? '_' : *p);
    (void)audit::RecordPolicy(audit::Op::kDaemonRequest, reason, KH_E_POLICY_DENIED, keyset_id);
    Log(Level::kWarn, "denied",
        {{"op", wire::OpName(op)}, {"uid", c_.uid}, {"gid", c_.gid}, {"pid", c_.pid}, {"keyset", keyset}});
    return KH_E_POLICY_DENIED;
  }

  // Run executes one non-batch item, writing its output into o.
  kh_status Run(const wire::RequestItem& it, ItemOut o, uint64_t* value, size_t* out_len);

 private:
  kh_status Strings(const char* s, ItemOut o, uint64_t* value, size_t* out_len) {
    size_t n = std::strlen(s);
    if (n > o.cap) {
      *value = n;
      return KH_E_BUFFER_TOO_SMALL;
    }
    std::memcpy(o.p, s, n);
    *out_len = n;
    return KH_OK;
  }
  kh_status Fixed(const uint8_t* b, size_t n, ItemOut o, uint64_t* value, size_t* out_len) {
    if (n > o.cap) {
      *value = n;
      return KH_E_BUFFER_TOO_SMALL;
    }
    std::memcpy(o.p, b, n);
    *out_len = n;
    return KH_OK;
  }
  kh_status NewObject(kh_status s, kh_handle h, uint64_t engine_token, uint64_t* value) {
    if (s != KH_OK) return s;
    uint64_t token = 0;
    kh_status r = svc_->registry().Add(h, c_.uid, engine_token, &token).code();
    if (r != KH_OK) {
      if (engine_token == 0) {
        (void)kh_engine_close(h);
      } else {
        (void)kh_handle_close(h);
      }
      return r;
    }
    *value = token;
    return KH_OK;
  }

  Service* svc_;
  const Caller& c_;
  const State& st_;
};

// Sized output: kh calls that report the needed size through out_len on
// KH_E_BUFFER_TOO_SMALL; value carries it to the client.
kh_status Sized(kh_status s, size_t n, uint64_t* value) {
  if (s == KH_E_BUFFER_TOO_SMALL) *value = n;
  return s;
}

kh_status Exec::Run(const wire::RequestItem& it, ItemOut o, uint64_t* value, size_t* out_len) {
  const uint16_t op = it.op;
  auto in = [](ByteView v) { return v.empty() ? nullptr : v.data(); };
  kh_handle h = 0;
  size_t n = 0;
  kh_status s = KH_OK;
  // Ops on a keyset: resolve the handle and check the ACL first.
  switch (static_cast<Op>(op)) {
    case Op::kAeadEncrypt:
    case Op::kAeadDecrypt:
    case Op::kDaeadEncrypt:
    case Op::kDaeadDecrypt:
    case Op::kMacCompute:
    case Op::kMacVerify:
    case Op::kSigSign:
    case Op::kSigVerify:
    case Op::kAeadSealNonce:
    case Op::kAeadOpenNonce:
    case Op::kSigSignPlain:
    case Op::kSigSignDigest:
    case Op::kSigVerifyPlain:
    case Op::kKexAgree:
    case Op::kKdfDerive:
    case Op::kKeysetInfo:
    case Op::kKeysetKeyInfo:
    case Op::kKeysetPublicKey:
      if ((s = Keyset(it.handle, op, &h)) != KH_OK) return s;
      break;
    case Op::kKeysetRotate:
    case Op::kKeysetSetPrimary:
    case Op::kKeysetDisable:
    case Op::kKeysetEnable:
    case Op::kKeysetDestroyKey:
      // A stored keyset changes only through its file (keyhold keyset ...,
      // then SIGHUP): an in-memory change would be lost and would diverge
      // from the file other daemons load.
      if (IsStoredToken(it.handle)) return st_.FindToken(it.handle) ? KH_E_UNSUPPORTED : KH_E_STALE_HANDLE;
      if ((s = Keyset(it.handle, op, &h)) != KH_OK) return s;
      break;
    default:
      break;
  }
  switch (static_cast<Op>(op)) {
    case Op::kAeadEncrypt:
      s = kh_aead_encrypt(h, in(it.in), it.in.size(), in(it.in2), it.in2.size(), o.p, o.cap, &n);
      break;
    case Op::kAeadDecrypt:
      s = kh_aead_decrypt(h, in(it.in), it.in.size(), in(it.in2), it.in2.size(), o.p, o.cap, &n);
      break;
    case Op::kAeadSealNonce:
      s = kh_aead_seal_nonce(h, in(it.in3), it.in3.size(), in(it.in), it.in.size(), in(it.in2), it.in2.size(),
                             o.p, o.cap, &n);
      break;
    case Op::kAeadOpenNonce:
      s = kh_aead_open_nonce(h, in(it.in3), it.in3.size(), in(it.in), it.in.size(), in(it.in2), it.in2.size(),
                             o.p, o.cap, &n);
      break;
    case Op::kDaeadEncrypt:
      s = kh_daead_encrypt(h, in(it.in), it.in.size(), in(it.in2), it.in2.size(), o.p, o.cap, &n);
      break;
    case Op::kDaeadDecrypt:
      s = kh_daead_decrypt(h, in(it.in), it.in.size(), in(it.in2), it.in2.size(), o.p, o.cap, &n);
      break;
    case Op::kMacCompute:
      s = kh_mac_compute(h, in(it.in), it.in.size(), o.p, o.cap, &n);
      break;
    case Op::kMacVerify:
      return kh_mac_verify(h, in(it.in), it.in.size(), in(it.in2), it.in2.size());
    case Op::kSigSign:
      s = kh_sig_sign(h, in(it.in), it.in.size(), o.p, o.cap, &n);
      break;
    case Op::kSigVerify:
      return kh_sig_verify(h, in(it.in), it.in.size(), in(it.in2), it.in2.size());
    case Op::kSigSignPlain:
      s = kh_sig_sign_plain(h, in(it.in), it.in.size(), o.p, o.cap, &n);
      break;
    case Op::kSigSignDigest:
      s = kh_sig_sign_digest(h, in(it.in), it.in.size(), o.p, o.cap, &n);
      break;
    case Op::kSigVerifyPlain:
      return kh_sig_verify_plain(h, it.arg, in(it.in), it.in.size(), in(it.in2), it.in2.size());
    case Op::kKexAgree:
      s = kh_kex_agree(h, in(it.in), it.in.size(), o.p, o.cap, &n);
      break;
    case Op::kKdfDerive:
      s = kh_kdf_derive(h, in(it.in), it.in.size(), in(it.in2), it.in2.size(), o.p, o.cap);
      if (s == KH_OK) n = o.cap;
      break;
    case Op::kRandomBytes:
      if ((st_.Classes(c_, nullptr) & kClassRandom) == 0) return Deny(op, "");
      s = kh_random_bytes(o.p, o.cap);
      if (s == KH_OK) n = o.cap;
      break;
    case Op::kHello: {
      // arg, arg2: the lowest and highest protocol version the client speaks.
      if (it.arg > wire::kProtocolVersion || it.arg2 < wire::kProtocolVersion) return KH_E_UNSUPPORTED;
      const char* ver = kh_version();
      std::vector<uint8_t> b(12 + std::strlen(ver));
      PutU32(b.data(), kh_abi_version());
      PutU32(b.data() + 4, wire::kMaxFrameLen);
      PutU32(b.data() + 8, wire::kMaxItems);
      std::memcpy(b.data() + 12, ver, b.size() - 12);
      *value = wire::kProtocolVersion;
      return Fixed(b.data(), b.size(), o, value, out_len);
    }
    case Op::kHealth:
      *value = svc_->ready.load() ? 1 : 0;
      return Strings(svc_->ready.load() ? "ready" : "starting", o, value, out_len);
    case Op::kVersion:
      return Strings(kh_version(), o, value, out_len);
    case Op::kBuildInfo:
      if (!st_.Known(c_)) return Deny(op, "");
      return Strings(kh_build_info(), o, value, out_len);
    case Op::kRuntimeInfo:
      if (!st_.Known(c_)) return Deny(op, "");
      return Strings(kh_runtime_info(), o, value, out_len);
    case Op::kAlgSizes: {
      kh_alg_sizes z{};
      if (it.arg > 0x7FFFFFFF) return KH_E_UNSUPPORTED;
      if ((s = kh_alg_sizes_get(static_cast<kh_alg>(it.arg), &z)) != KH_OK) return s;
      uint8_t b[28];
      const uint32_t f[7] = {z.key_len,  z.nonce_len,      z.tag_len,       z.header_len,
                             z.overhead, z.max_output_len, z.public_key_len};
      for (size_t i = 0; i < 7; ++i) PutU32(b + 4 * i, f[i]);
      return Fixed(b, sizeof b, o, value, out_len);
    }
    case Op::kMetrics: {
      if ((st_.Classes(c_, nullptr) & kClassMetrics) == 0) return Deny(op, "");
      std::string m = svc_->RenderMetrics();
      return Fixed(reinterpret_cast<const uint8_t*>(m.data()), m.size(), o, value, out_len);
    }
    case Op::kEngineOpen: {
      if (!st_.Known(c_)) return Deny(op, "");
      kh_handle e = 0;
      s = kh_engine_open(&e);
      return NewObject(s, e, 0, value);
    }
    case Op::kEngineClose: {
      bool was_engine = false;
      if ((s = svc_->registry().Remove(it.handle, c_.uid, &h, &was_engine).code()) != KH_OK) return s;
      return was_engine ? kh_engine_close(h) : kh_handle_close(h);
    }
    case Op::kEngineStats: {
      if ((s = svc_->registry().Resolve(it.handle, c_.uid, true, &h).code()) != KH_OK) return s;
      kh_engine_stats z{};
      if ((s = kh_engine_stats_get(h, &z)) != KH_OK) return s;
      uint8_t b[44];
      const uint64_t f[5] = {z.live_handles, z.secure_bytes_used, z.secure_bytes_total, z.secure_bytes_locked,
                             z.mlock_failures};
      for (size_t i = 0; i < 5; ++i) PutU64(b + 8 * i, f[i]);
      PutU32(b + 40, z.self_test_passed);
      return Fixed(b, sizeof b, o, value, out_len);
    }
    case Op::kEngineConfig:
    case Op::kEngineMetrics: {
      if ((st_.Classes(c_, nullptr) & kClassMetrics) == 0) return Deny(op, "");
      if ((s = svc_->registry().Resolve(it.handle, c_.uid, true, &h).code()) != KH_OK) return s;
      auto* p = reinterpret_cast<char*>(o.p);
      s = op == static_cast<uint16_t>(Op::kEngineConfig) ? kh_engine_config_get(h, p, o.cap, &n)
                                                         : kh_engine_metrics_get(h, it.arg, p, o.cap, &n);
      break;
    }
    case Op::kKeysetGenerate:
    case Op::kKeysetImportRaw:
    case Op::kKeysetImportPublic: {
      if ((st_.Classes(c_, nullptr) & kClassGenerate) == 0) return Deny(op, "");
      kh_handle e = 0;
      if ((s = svc_->registry().Resolve(it.handle, c_.uid, true, &e).code()) != KH_OK) return s;
      kh_handle k = 0;
      // kh_alg's values stop at 0x7FFFFFFF: a larger one names no algorithm
      // (and must not be cast to the enum).
      if (it.arg > 0x7FFFFFFF) return KH_E_UNSUPPORTED;
      auto alg = static_cast<kh_alg>(it.arg);
      if (op == static_cast<uint16_t>(Op::kKeysetGenerate)) {
        s = kh_keyset_generate(e, alg, it.arg2, &k);
      } else if (op == static_cast<uint16_t>(Op::kKeysetImportRaw)) {
        s = kh_keyset_import_raw(e, alg, in(it.in), it.in.size(), &k);
      } else {
        s = kh_keyset_import_public(e, alg, in(it.in), it.in.size(), &k);
      }
      return NewObject(s, k, it.handle, value);
    }
    case Op::kKeysetRotate: {
      uint32_t id = 0;
      if ((s = kh_keyset_rotate(h, &id)) == KH_OK) *value = id;
      return s;
    }
    case Op::kKeysetSetPrimary:
      return kh_keyset_set_primary(h, it.arg);
    case Op::kKeysetDisable:
      return kh_keyset_disable(h, it.arg);
    case Op::kKeysetEnable:
      return kh_keyset_enable(h, it.arg);
    case Op::kKeysetDestroyKey:
      return kh_keyset_destroy_key(h, it.arg);
    case Op::kKeysetInfo: {
      kh_keyset_info z{};
      if ((s = kh_keyset_info_get(h, &z)) != KH_OK) return s;
      uint8_t b[16];
      PutU32(b, z.alg);
      PutU32(b + 4, z.flags);
      PutU32(b + 8, z.primary_key_id);
      PutU32(b + 12, z.key_count);
      return Fixed(b, sizeof b, o, value, out_len);
    }
    case Op::kKeysetKeyInfo: {
      kh_key_info z{};
      if ((s = kh_keyset_key_info_get(h, it.arg, &z)) != KH_OK) return s;
      uint8_t b[20];
      PutU32(b, z.key_id);
      PutU32(b + 4, z.status);
      PutU32(b + 8, z.is_primary);
      PutU64(b + 12, z.use_count);
      return Fixed(b, sizeof b, o, value, out_len);
    }
    case Op::kKeysetPublicKey:
      s = kh_keyset_public_key(h, it.arg, it.arg2, o.p, o.cap, &n);
      break;
    case Op::kHandleClose: {
      if (IsStoredToken(it.handle)) return st_.FindToken(it.handle) ? KH_OK : KH_E_STALE_HANDLE;
      bool was_engine = false;
      if ((s = svc_->registry().Remove(it.handle, c_.uid, &h, &was_engine).code()) != KH_OK) return s;
      return was_engine ? kh_engine_close(h) : kh_handle_close(h);
    }
    case Op::kKeysetAttach: {
      if (it.in.size() != 16) return KH_E_INVALID_ARGUMENT;
      const StoredKeyset* ks = st_.FindId(it.in.data());
      if (ks == nullptr) return st_.Known(c_) ? KH_E_NOT_FOUND : Deny(op, "");
      if (st_.Classes(c_, ks) == 0) return Deny(op, ks->name);
      *value = ks->token;
      return KH_OK;
    }
    case Op::kStreamEncryptBegin:
    case Op::kStreamDecryptBegin: {
      // The keyset's ACL decides; the stream then belongs to the caller.
      uint64_t engine_token = Registry::kDaemonEngine;
      if (IsStoredToken(it.handle)) {
        if ((s = Keyset(it.handle, op, &h)) != KH_OK) return s;
      } else {
        if ((s = svc_->registry().Resolve(it.handle, c_.uid, false, &h, &engine_token).code()) != KH_OK)
          return s;
        if ((st_.Classes(c_, nullptr) & ClassOf(op)) == 0) return Deny(op, "");
      }
      kh_handle stream = 0;
      if (op == static_cast<uint16_t>(Op::kStreamEncryptBegin)) {
        s = kh_stream_encrypt_begin(h, in(it.in), it.in.size(), it.arg, o.p, o.cap, &n, &stream);
        if (s == KH_E_BUFFER_TOO_SMALL) *value = n;
        if (s != KH_OK) return s;
        *out_len = n;
      } else {
        s = kh_stream_decrypt_begin(h, in(it.in), it.in.size(), in(it.in2), it.in2.size(), &stream);
        if (s != KH_OK) return s;
      }
      s = NewObject(s, stream, engine_token, value);
      if (s != KH_OK) *out_len = 0;
      return s;
    }
    case Op::kStreamInfo: {
      if ((s = svc_->registry().Resolve(it.handle, c_.uid, false, &h).code()) != KH_OK) return s;
      kh_stream_info z{};
      if ((s = kh_stream_info_get(h, &z)) != KH_OK) return s;
      uint8_t b[24];
      const uint32_t f[6] = {z.alg, z.key_id, z.segment_size, z.header_len, z.tag_len, z.encrypting};
      for (size_t i = 0; i < 6; ++i) PutU32(b + 4 * i, f[i]);
      return Fixed(b, sizeof b, o, value, out_len);
    }
    case Op::kStreamSeal:
    case Op::kStreamOpen: {
      // arg: last (0/1); in3: the first segment's index, 8 bytes.
      if ((s = svc_->registry().Resolve(it.handle, c_.uid, false, &h).code()) != KH_OK) return s;
      if (it.in3.size() != 8) return KH_E_INVALID_ARGUMENT;
      const uint64_t first = wire::GetU64(it.in3.data());
      s = op == static_cast<uint16_t>(Op::kStreamSeal)
              ? kh_stream_seal(h, first, it.arg, in(it.in), it.in.size(), o.p, o.cap, &n)
              : kh_stream_open(h, first, it.arg, in(it.in), it.in.size(), o.p, o.cap, &n);
      break;
    }
    case Op::kBatch:
      return KH_E_INTERNAL;  // handled by Service::Handle
  }
  if (s == KH_OK) *out_len = n;
  return Sized(s, n, value);
}

}  // namespace

void Service::ErrorFrame(uint64_t request_id, uint16_t op, kh_status st, std::vector<uint8_t>* out) {
  wire::FrameHeader h;
  h.kind = wire::kKindResponse;
  h.op = op;
  h.request_id = request_id;
  h.status = st;
  wire::EncodeResponse(h, {}, out);
}

void Service::Handle(const Caller& caller, const wire::FrameHeader& h,
                     const std::vector<wire::RequestItem>& items, std::vector<uint8_t>* out) {
  auto t0 = std::chrono::steady_clock::now();
  metrics_.in_flight.fetch_add(1, std::memory_order_relaxed);
  // Decremented however Handle ends (an allocation failure included).
  struct InFlight {
    std::atomic<int64_t>& n;
    ~InFlight() { n.fetch_sub(1, std::memory_order_relaxed); }
  } in_flight{metrics_.in_flight};
  std::shared_ptr<State> st = state();
  // Reserve the whole response at once: the items' outputs are written in
  // place, so the buffer must not move while they run.
  uint64_t total = wire::kLengthPrefixLen + wire::kFrameHeaderLen;
  uint64_t bytes_in = 0;
  for (const wire::RequestItem& it : items) {
    total += wire::kResponseItemFixedLen + it.out_cap;
    bytes_in += it.in.size() + it.in2.size() + it.in3.size();
  }
  if (total > wire::kLengthPrefixLen + wire::kMaxFrameLen || !st) {
    ErrorFrame(h.request_id, h.op, st ? KH_E_TOO_LARGE : KH_E_INTERNAL, out);
    return;
  }
  const size_t start = out->size();
  out->resize(start + total);
  uint8_t* base = out->data() + start;
  uint8_t* item_at = base + wire::kLengthPrefixLen + wire::kFrameHeaderLen;
  std::vector<uint64_t> values(items.size(), 0);
  std::vector<size_t> lens(items.size(), 0);
  std::vector<uint32_t> statuses(items.size(), KH_OK);
  std::vector<uint8_t*> outs(items.size());
  {
    uint8_t* p = item_at;
    for (size_t i = 0; i < items.size(); ++i) {
      outs[i] = p + wire::kResponseItemFixedLen;
      p += wire::kResponseItemFixedLen + items[i].out_cap;
    }
  }
  Exec ex(this, caller, *st);
  // Audit records of this request carry the peer's identity.
  const audit::ScopedCaller who(audit::Caller{caller.pid, caller.uid, caller.gid});
  kh_status frame_status = KH_OK;
  if (h.op == static_cast<uint16_t>(Op::kBatch)) {
    // Items go to kh_batch as they are: inputs point into the request,
    // outputs into the response. An item whose handle does not resolve or
    // whose ACL refuses it is not run; it keeps that status.
    std::vector<kh_batch_item> b(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const wire::RequestItem& it = items[i];
      kh_batch_item& x = b[i];
      x.op = it.op;
      x.in = it.in.empty() ? nullptr : it.in.data();
      x.in_len = it.in.size();
      x.in2 = it.in2.empty() ? nullptr : it.in2.data();
      x.in2_len = it.in2.size();
      x.in3 = it.in3.empty() ? nullptr : it.in3.data();
      x.in3_len = it.in3.size();
      x.out = outs[i];
      x.out_cap = it.out_cap;
      if (wire::IsBatchable(it.op)) {
        statuses[i] = ex.Keyset(it.handle, it.op, &x.keyset);
      } else {
        // kh_batch's order: the handle first, then the op.
        kh_handle ignored = 0;
        statuses[i] = ex.Lookup(it.handle, &ignored);
        if (statuses[i] == KH_OK) statuses[i] = KH_E_INVALID_ARGUMENT;
      }
      if (statuses[i] != KH_OK) x.keyset = 0;
    }
    size_t failed = 0;
    frame_status = kh_batch(b.data(), b.size(), &failed);
    for (size_t i = 0; i < items.size(); ++i) {
      if (statuses[i] != KH_OK) continue;  // refused before the batch
      statuses[i] = frame_status == KH_OK ? b[i].status : static_cast<uint32_t>(frame_status);
      if (statuses[i] == KH_OK) lens[i] = b[i].out_len;
      if (statuses[i] == KH_E_BUFFER_TOO_SMALL) values[i] = b[i].out_len;
    }
  } else {
    const wire::RequestItem& it = items[0];
    statuses[0] = ex.Run(it, ItemOut{outs[0], it.out_cap}, &values[0], &lens[0]);
    if (statuses[0] != KH_OK) lens[0] = 0;
  }
  // Lay the items out densely: each output moves down to follow its item
  // header (memmove: regions may overlap).
  uint8_t* w = item_at;
  uint64_t bytes_out = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    PutU32(w, statuses[i]);
    PutU64(w + 4, values[i]);
    PutU32(w + 12, static_cast<uint32_t>(lens[i]));
    if (lens[i] != 0 && outs[i] != w + wire::kResponseItemFixedLen) {
      std::memmove(w + wire::kResponseItemFixedLen, outs[i], lens[i]);
    }
    w += wire::kResponseItemFixedLen + lens[i];
    bytes_out += lens[i];
  }
  const size_t used = static_cast<size_t>(w - base);
  // Zero the unused tail before dropping it: it may hold a copy of output.
  std::memset(w, 0, total - used);
  out->resize(start + used);
  base = out->data() + start;
  wire::PutU32(base, static_cast<uint32_t>(used - wire::kLengthPrefixLen));
  uint8_t* hp = base + wire::kLengthPrefixLen;
  hp[0] = wire::kProtocolVersion;
  hp[1] = wire::kKindResponse;
  wire::PutU16(hp + 2, h.op);
  PutU32(hp + 4, 0);
  PutU64(hp + 8, h.request_id);
  PutU32(hp + 16, frame_status);
  PutU32(hp + 20, static_cast<uint32_t>(items.size()));
  auto ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  metrics_.Count(h.op, items.size() == 1 ? statuses[0] : static_cast<uint32_t>(frame_status), items.size(),
                 ns, bytes_in, bytes_out);
}

bool Service::HandleBytes(const Caller& caller, ByteView body, std::vector<wire::RequestItem>* scratch,
                          std::vector<uint8_t>* out) {
  wire::FrameHeader h;
  Status s = wire::DecodeRequest(body, &h, scratch);
  if (s.ok()) {
    // Nothing may escape into the event loop: the kh_* calls return
    // statuses, but the response buffer can fail to grow. The request then
    // gets a status and the connection is closed (its buffers are suspect).
    const size_t mark = out->size();
    try {
      Handle(caller, h, *scratch, out);
      return true;
    } catch (const std::bad_alloc&) {
      s = KH_E_OUT_OF_MEMORY;
    } catch (...) {
      s = KH_E_INTERNAL;
    }
    out->resize(mark);
    ErrorFrame(h.request_id, h.op, s.code(), out);
    Log(Level::kError, "request failed in the daemon",
        {{"op", wire::OpName(h.op)}, {"status", kh_status_name(s.code())}});
    return false;
  }
  metrics_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  // Echo what can be read of the header so the client can match the error.
  uint64_t id = body.size() >= 16 ? wire::GetU64(body.data() + 8) : 0;
  uint16_t op = body.size() >= 4 ? wire::GetU16(body.data() + 2) : 0;
  ErrorFrame(id, op, s.code(), out);
  return !(body.size() >= 1 && body[0] != wire::kProtocolVersion);
}

}  // namespace keyhold::daemon
