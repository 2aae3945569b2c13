// The C ABI (include/keyhold/keyhold.h). Every exported body runs inside
// Guard(), which turns C++ exceptions into statuses, refuses work after a
// failed self-test and leaves this thread's OpenSSL error queue empty, so
// none of those can cross the boundary.
#include <keyhold/keyhold.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <array>
#include <mutex>
#include <new>

#include "abi/handle_table.h"
#include "build_info.h"
#include "config/config.h"
#include "core/engine.h"
#include "core/status.h"
#include "keyset/keyset.h"
#include "keystore/keystore.h"
#include "metrics/metrics.h"
#include "policy/policy.h"
#include "selftest/selftest.h"
#include "stream/stream.h"
#include "wire/header.h"

namespace keyhold::abi {
namespace {

struct KeysetObject final : Object {
  explicit KeysetObject(std::unique_ptr<keyset::Keyset> k) : Object(Kind::kKeyset), ks(std::move(k)) {}
  std::unique_ptr<keyset::Keyset> ks;
  // The owning engine's configuration; decrypt_only: the algorithm is
  // deprecated there (policy::Use::kDecryptOnly). Both set before Insert.
  std::shared_ptr<const config::Config> config;
  bool decrypt_only = false;
};

struct KekObject final : Object {
  explicit KekObject(std::shared_ptr<keystore::Kek> k) : Object(Kind::kKek), kek(std::move(k)) {}
  // Shared: a keyset whose home uses this KEK keeps it after the handle
  // closes, to write its use reservations.
  std::shared_ptr<keystore::Kek> kek;
};

// StreamObject: a streaming AEAD in one direction (src/stream). It owns its
// derived key; the keyset it came from may close first.
struct StreamObject final : Object {
  explicit StreamObject(std::unique_ptr<stream::Stream> s) : Object(Kind::kStream), st(std::move(s)) {}
  std::unique_ptr<stream::Stream> st;
  // The keyset's id and whether it is raw, for the audit trail's use records.
  std::array<uint8_t, 16> keyset_id{};
  bool raw = false;
};

// Gate: which checks a call runs. kHot marks the per-message operations:
// they skip the error-queue check on success (see Guard).
enum class Gate { kAlways, kSelfTest, kHot };

template <typename F>
kh_status Guard(Gate gate, F&& body) noexcept {
  kh_status s;
  try {
    if (gate != Gate::kAlways && selftest::Failed()) {
      s = KH_E_SELF_TEST_FAILED;
    } else {
      s = Status(body()).code();
    }
  } catch (const std::bad_alloc&) {
    s = KH_E_OUT_OF_MEMORY;
  } catch (...) {
    s = KH_E_INTERNAL;
  }
  // The OpenSSL calls on the per-message paths (EVP cipher/MAC/digest/sign)
  // push nothing on success, and every failure path clears the queue
  // itself; peeking costs ~12 ns, a quarter of a 64-byte AES-GCM seal. So
  // hot calls check the queue only when they fail; every other call always
  // does. tests/abi_misuse_test.cc asserts the queue is empty after each
  // operation, successful or not.
  if ((gate != Gate::kHot || s != KH_OK) && ERR_peek_error() != 0) ERR_clear_error();
  return s;
}

// In: a (ptr, len) input. NULL with a non-zero length is refused.
bool BadIn(const uint8_t* p, size_t n) { return p == nullptr && n != 0; }
ByteView In(const uint8_t* p, size_t n) { return n == 0 ? ByteView() : ByteView(p, n); }
// ClearOutLen: *out_len is 0 on every failure, including the ones caught
// before the keyset is reached (NULL input, stale handle).
void ClearOutLen(size_t* out_len) {
  if (out_len != nullptr) *out_len = 0;
}
keyset::Out MakeOut(uint8_t* out, size_t cap, size_t* len) { return {out, out == nullptr ? 0 : cap, len}; }

#define KH_CHECK_IN(p, n) \
  if (BadIn((p), (n))) return Status(KH_E_NULL_POINTER)

// t_config_error: the last configuration error of kh_engine_open on this
// thread (kh_config_last_error).
thread_local std::string t_config_error;

// ApplyAuditConfig installs the audit trail's settings when they differ
// from the ones in force (the audit trail is process-wide: the last engine
// opened with other settings wins, as for metrics).
Status ApplyAuditConfig(audit::Config c) {
  // Compared with the default paths filled in: KEYHOLD_HOME may have
  // changed since the last engine opened.
  KH_RETURN_IF_ERROR(audit::ResolveDefaults(&c));
  static std::mutex mu;
  static bool applied = false;
  static audit::Config last;
  std::lock_guard<std::mutex> lock(mu);
  if (applied && last.enabled == c.enabled && last.file_path == c.file_path && last.key_path == c.key_path &&
      last.syslog == c.syslog && last.lifecycle_failure == c.lifecycle_failure &&
      last.interval_ms == c.interval_ms && last.checkpoint_every == c.checkpoint_every &&
      last.max_file_bytes == c.max_file_bytes) {
    return OkStatus();
  }
  KH_RETURN_IF_ERROR(audit::Configure(c));
  last = c;
  applied = true;
  return OkStatus();
}

// TextOut copies text to a caller buffer (the header's text convention).
Status TextOut(const std::string& text, char* out, size_t out_cap, size_t* out_len) {
  if (out_len == nullptr) return KH_E_NULL_POINTER;
  *out_len = text.size();
  if (text.empty()) return OkStatus();
  if (out == nullptr || out_cap < text.size()) return KH_E_BUFFER_TOO_SMALL;
  std::copy(text.begin(), text.end(), out);
  return OkStatus();
}

Status GetObject(kh_handle h, Kind kind, std::shared_ptr<Object>* out) {
  std::shared_ptr<Object> o = HandleTable::Global().Lookup(h);
  if (!o) return KH_E_STALE_HANDLE;
  if (o->kind != kind) return KH_E_WRONG_HANDLE_TYPE;
  *out = std::move(o);
  return OkStatus();
}

// KeysetRef holds a keyset alive for the duration of one call.
struct KeysetRef {
  std::shared_ptr<Object> obj;
  KeysetObject* object() const { return static_cast<KeysetObject*>(obj.get()); }
  keyset::Keyset* operator->() const { return object()->ks.get(); }
  keyset::Keyset& operator*() const { return *operator->(); }
};

// Produces: operations a deprecated (decrypt-only) keyset refuses.
constexpr bool Produces(metrics::Op op) {
  switch (op) {
    case metrics::Op::kAeadEncrypt:
    case metrics::Op::kAeadSealNonce:
    case metrics::Op::kDaeadEncrypt:
    case metrics::Op::kMacCompute:
    case metrics::Op::kSigSign:
    case metrics::Op::kSigSignPlain:
    case metrics::Op::kSigSignDigest:
    case metrics::Op::kKexAgree:
    case metrics::Op::kKdfDerive:
    case metrics::Op::kStreamSeal:
      return true;
    default:
      return false;
  }
}

// AuditOp: the audit trail's name of a per-message operation (the two
// enums list those operations in the same order).
audit::Op AuditOp(metrics::Op op) {
  // The message operations share their numbers (kAeadEncrypt .. kKdfDerive).
  if (op == metrics::Op::kStreamSeal) return audit::Op::kStreamEncrypt;
  if (op == metrics::Op::kStreamOpen) return audit::Op::kStreamDecrypt;
  return static_cast<audit::Op>(static_cast<uint8_t>(op));
}

// DeniedDeprecated: KH_E_POLICY_DENIED (recorded) when ks is decrypt-only
// and op produces output under its key.
inline Status DeniedDeprecated(const KeysetRef& ks, metrics::Op op) {
  if (Produces(op) && ks.object()->decrypt_only) [[unlikely]] {
    return policy::RefuseDeprecated(AuditOp(op), ks->id());
  }
  return OkStatus();
}

Status GetKeyset(kh_handle h, KeysetRef* out) { return GetObject(h, Kind::kKeyset, &out->obj); }

// ------------------------------------------------ audit (docs/spec/audit.md)

constexpr std::array<uint8_t, 16> kNoKeyset{};

// AuditLifecycle records a lifecycle call's outcome. A call that succeeded
// but could not be audited returns KH_E_IO under the fail-closed policy; a
// failed call keeps its own status.
Status AuditLifecycle(audit::Lifecycle ev, const keyset::Keyset* ks, uint32_t key_id, Status s) {
  const Status a = audit::RecordLifecycle(
      ev, ks != nullptr ? audit::KeysetId(ks->id()) : audit::KeysetId(kNoKeyset), key_id, s.code());
  return s.ok() && !a.ok() ? a : s;
}

// AuditHeader: where a key use finds the id of the key it used (spec
// section 4.2): the output's header (encrypt, compute, sign), an input's
// (decrypt, verify), or nowhere (key 0: raw keysets and headerless
// outputs).
ByteView OutHeader(const uint8_t* out, const size_t* out_len) {
  return out == nullptr || out_len == nullptr ? ByteView() : ByteView(out, *out_len);
}

// AuditUse counts one key use. The key id is taken from a header only on
// success: a failed input's header is the caller's word, and junk ids
// would fill the aggregation tables.
inline void AuditUse(const KeysetRef& ks, metrics::Op op, kh_status s, uint64_t bytes_in, uint64_t bytes_out,
                     ByteView header, uint32_t key_id = 0) noexcept {
  if (s == KH_OK && !ks->raw() && header.size() >= keyhold::wire::kHeaderLen &&
      header[0] == keyhold::wire::kVersion1) {
    key_id = uint32_t{header[2]} << 24 | uint32_t{header[3]} << 16 | uint32_t{header[4]} << 8 |
             uint32_t{header[5]};
  }
  audit::RecordUse(ks->id(), key_id, AuditOp(op), s, bytes_in, s == KH_OK ? bytes_out : 0);
}

size_t OutLenOf(const size_t* p) { return p == nullptr ? 0 : *p; }
size_t OutLenOf(std::nullptr_t) { return 0; }

// BatchHeader: AuditHeader for a batch item.
ByteView BatchHeader(const kh_batch_item* it) {
  switch (it->op) {
    case KH_OP_AEAD_ENCRYPT:
    case KH_OP_DAEAD_ENCRYPT:
    case KH_OP_MAC_COMPUTE:
    case KH_OP_SIG_SIGN:
      return it->out == nullptr ? ByteView() : ByteView(it->out, it->out_len);
    case KH_OP_AEAD_DECRYPT:
    case KH_OP_DAEAD_DECRYPT:
      return In(it->in, it->in_len);
    case KH_OP_MAC_VERIFY:
    case KH_OP_SIG_VERIFY:
      return In(it->in2, it->in2_len);
    default:
      return ByteView();
  }
}

// EngineConfig: the engine's configuration.
Status EngineConfig(kh_handle engine, std::shared_ptr<const config::Config>* out) {
  std::shared_ptr<Object> e;
  KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
  *out = static_cast<EngineObject*>(e.get())->config;
  return OkStatus();
}

// Register hands a new keyset to engine. A keyset that came from outside
// (a file or a wrapped import) is checked against the policy here, when its
// algorithm is first known.
//
// ev: the lifecycle event audited for it; if that record cannot be
// written under the fail-closed policy, the handle is closed again and the
// call fails with KH_E_IO.
Status Register(kh_handle engine, StatusOr<std::unique_ptr<keyset::Keyset>> ks, kh_handle* out,
                audit::Lifecycle ev, bool check_existing = false) {
  if (!ks.ok()) return AuditLifecycle(ev, nullptr, 0, ks.status());
  std::shared_ptr<Object> e;
  KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
  const auto& cfg = static_cast<EngineObject*>(e.get())->config;
  const kh_alg alg = (*ks)->alg_info().alg;
  if (check_existing) {
    KH_RETURN_IF_ERROR(policy::CheckExisting(cfg->policy, alg, audit::Op::kKeyImport, (*ks)->id()));
  }
  auto obj = std::make_shared<KeysetObject>(std::move(ks).value());
  obj->config = cfg;
  obj->decrypt_only = policy::UseOf(cfg->policy, alg) == policy::Use::kDecryptOnly;
  KH_RETURN_IF_ERROR(HandleTable::Global().Insert(obj, static_cast<EngineObject*>(e.get())));
  kh_keyset_info info{};
  obj->ks->Info(&info);
  const Status a = AuditLifecycle(ev, obj->ks.get(), info.primary_key_id, OkStatus());
  if (!a.ok()) {
    (void)HandleTable::Global().Remove(obj->handle);
    return a;
  }
  *out = obj->handle;
  return OkStatus();
}

// RegisterStream makes a stream a handle owned by the keyset's engine.
Status RegisterStream(const KeysetRef& ks, StatusOr<std::unique_ptr<keyhold::stream::Stream>> s,
                      kh_handle* out) {
  if (!s.ok()) return s.status();
  std::shared_ptr<Object> e;
  KH_RETURN_IF_ERROR(GetObject(ks.obj->owner, Kind::kEngine, &e));
  auto obj = std::make_shared<StreamObject>(std::move(s).value());
  std::copy(ks->id().begin(), ks->id().end(), obj->keyset_id.begin());
  obj->raw = ks->raw();
  KH_RETURN_IF_ERROR(HandleTable::Global().Insert(obj, static_cast<EngineObject*>(e.get())));
  *out = obj->handle;
  return OkStatus();
}

// StreamCall runs one seal or open: the call's shape is checked before the
// output buffer, as for every sized output.
template <typename PlanFn, typename RunFn>
Status StreamCall(metrics::Op op, kh_handle stream, const uint8_t* in, size_t in_len, uint8_t* out,
                  size_t out_cap, size_t* out_len, PlanFn plan_fn, RunFn run_fn) {
  if (out_len == nullptr) return KH_E_NULL_POINTER;
  KH_CHECK_IN(in, in_len);
  std::shared_ptr<Object> o;
  KH_RETURN_IF_ERROR(GetObject(stream, Kind::kStream, &o));
  auto* so = static_cast<StreamObject*>(o.get());
  auto* s = so->st.get();
  metrics::Recorder rec;
  // Every segment call is a key use: metered, and aggregated into the
  // audit trail's use records like the one-shot operations.
  auto done = [&](Status st) {
    const kh_status c = st.code();
    const uint64_t produced = c == KH_OK ? *out_len : 0;
    rec.Done(op, c, in_len, produced);
    audit::RecordUse(audit::KeysetId(so->keyset_id), so->raw ? 0 : s->key_id(), AuditOp(op), c, in_len,
                     produced);
    return st;
  };
  keyhold::stream::Plan plan;
  if (Status st = plan_fn(*s, &plan); !st.ok()) return done(st);
  if ((out == nullptr ? 0 : out_cap) < plan.out_len) {
    *out_len = plan.out_len;
    return KH_E_BUFFER_TOO_SMALL;
  }
  // An empty stream opens to zero bytes: the cipher still gets a pointer.
  uint8_t none = 0;
  if (Status st = run_fn(*s, plan, In(in, in_len), out == nullptr ? &none : out); !st.ok()) return done(st);
  *out_len = plan.out_len;
  return done(OkStatus());
}

Status EngineLimits(kh_handle engine, keystore::Limits* limits) {
  std::shared_ptr<Object> e;
  KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
  limits->usage_limit = static_cast<EngineObject*>(e.get())->aead_usage_limit;
  limits->reservation = static_cast<EngineObject*>(e.get())->use_reservation;
  return OkStatus();
}

Status GetKek(kh_handle h, std::shared_ptr<keystore::Kek>* out) {
  std::shared_ptr<Object> o;
  KH_RETURN_IF_ERROR(GetObject(h, Kind::kKek, &o));
  *out = static_cast<KekObject*>(o.get())->kek;
  return OkStatus();
}

// kMaxPathLen: PATH_MAX, the longest path the kernel takes.
constexpr size_t kMaxPathLen = 4096;

// PathArg turns a (ptr, len) path into a string: empty, too long or with an
// embedded NUL (which the kernel would silently cut at) is refused.
Status PathArg(const char* p, size_t n, std::string* out) {
  if (p == nullptr && n != 0) return KH_E_NULL_POINTER;
  if (n == 0 || n >= kMaxPathLen) return KH_E_INVALID_ARGUMENT;
  out->assign(p, n);
  if (out->find('\0') != std::string::npos) return KH_E_INVALID_ARGUMENT;
  return OkStatus();
}

// ItemOp maps a batch operation to its metrics name.
bool ItemOp(uint32_t op, metrics::Op* out) {
  switch (op) {
    case KH_OP_AEAD_ENCRYPT:
      *out = metrics::Op::kAeadEncrypt;
      return true;
    case KH_OP_AEAD_DECRYPT:
      *out = metrics::Op::kAeadDecrypt;
      return true;
    case KH_OP_DAEAD_ENCRYPT:
      *out = metrics::Op::kDaeadEncrypt;
      return true;
    case KH_OP_DAEAD_DECRYPT:
      *out = metrics::Op::kDaeadDecrypt;
      return true;
    case KH_OP_MAC_COMPUTE:
      *out = metrics::Op::kMacCompute;
      return true;
    case KH_OP_MAC_VERIFY:
      *out = metrics::Op::kMacVerify;
      return true;
    case KH_OP_SIG_SIGN:
      *out = metrics::Op::kSigSign;
      return true;
    case KH_OP_SIG_VERIFY:
      *out = metrics::Op::kSigVerify;
      return true;
    case KH_OP_AEAD_SEAL_NONCE:
      *out = metrics::Op::kAeadSealNonce;
      return true;
    case KH_OP_AEAD_OPEN_NONCE:
      *out = metrics::Op::kAeadOpenNonce;
      return true;
    default:
      return false;
  }
}

// Metered runs one counted call: the metrics see its outcome, its input
// bytes and (on success) its output length.
template <typename F>
kh_status Metered(metrics::Op op, uint64_t bytes_in, const size_t* out_len, F&& call) noexcept {
  metrics::Recorder rec;
  const kh_status s = call();
  rec.Done(op, s, bytes_in, s == KH_OK && out_len != nullptr ? *out_len : 0);
  return s;
}

// RunItem executes one batch item with an already looked-up keyset.
Status RunItem(const KeysetRef& ks, kh_batch_item* it) {
  // First, so an item refused for a NULL input also reports out_len 0, as
  // the single call does (found by fuzz/batch.cc).
  it->out_len = 0;
  KH_CHECK_IN(it->in, it->in_len);
  KH_CHECK_IN(it->in2, it->in2_len);
  KH_CHECK_IN(it->in3, it->in3_len);
  const ByteView in = In(it->in, it->in_len), in2 = In(it->in2, it->in2_len), in3 = In(it->in3, it->in3_len);
  const keyset::Out out = MakeOut(it->out, it->out_cap, &it->out_len);
  metrics::Op mop = metrics::Op::kCount;
  if (ItemOp(it->op, &mop)) KH_RETURN_IF_ERROR(DeniedDeprecated(ks, mop));
  switch (it->op) {
    case KH_OP_AEAD_ENCRYPT:
      return ks->AeadEncrypt(in, in2, out);
    case KH_OP_AEAD_DECRYPT:
      return ks->AeadDecrypt(in, in2, out);
    case KH_OP_DAEAD_ENCRYPT:
      return ks->DaeadEncrypt(in, in2, out);
    case KH_OP_DAEAD_DECRYPT:
      return ks->DaeadDecrypt(in, in2, out);
    case KH_OP_MAC_COMPUTE:
      return ks->MacCompute(in, out);
    case KH_OP_MAC_VERIFY:
      return ks->MacVerify(in, in2);
    case KH_OP_SIG_SIGN:
      return ks->SigSign(in, out);
    case KH_OP_SIG_VERIFY:
      return ks->SigVerify(in, in2);
    case KH_OP_AEAD_SEAL_NONCE:
      return ks->AeadSealNonce(in3, in, in2, out);
    case KH_OP_AEAD_OPEN_NONCE:
      return ks->AeadOpenNonce(in3, in, in2, out);
    default:
      return KH_E_INVALID_ARGUMENT;
  }
}

}  // namespace
}  // namespace keyhold::abi

using keyhold::ByteView;
using keyhold::MutableBytes;
using keyhold::OkStatus;
using keyhold::Status;
using namespace keyhold::abi;  // NOLINT(google-build-using-namespace)
namespace metrics = keyhold::metrics;

extern "C" {

uint32_t kh_abi_version(void) { return KH_ABI_VERSION; }

const char* kh_version(void) { return KEYHOLD_VERSION_STRING; }

const char* kh_status_name(kh_status status) { return keyhold::StatusName(status); }

const char* kh_alg_name(kh_alg alg) {
  const auto* info = keyhold::keyset::FindAlg(static_cast<uint32_t>(alg));
  return info == nullptr ? nullptr : info->name;
}

const char* kh_build_info(void) { return keyhold::core::BuildInfoJson(); }

const char* kh_runtime_info(void) {
  // No Guard: nothing here throws once built, and building only runs the
  // self-test and formats static strings. A failed allocation while
  // building is the one exception, and must not cross the boundary.
  try {
    return keyhold::core::RuntimeInfoJson();
  } catch (...) {
    return "{}";
  }
}

kh_status kh_alg_sizes_get(kh_alg alg, kh_alg_sizes* out) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out == nullptr) return KH_E_NULL_POINTER;
    const auto* info = keyhold::keyset::FindAlg(static_cast<uint32_t>(alg));
    if (info == nullptr) return KH_E_UNSUPPORTED;
    *out = info->sizes;
    return OkStatus();
  });
}

kh_status kh_engine_open(kh_handle* out_engine) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out_engine == nullptr) return KH_E_NULL_POINTER;
    *out_engine = 0;
    // Configuration first: a malformed KEYHOLD_* variable or config file is
    // refused before the self-test picks the AEAD backends from it.
    auto cfg = std::make_shared<keyhold::config::Config>();
    t_config_error.clear();
    KH_RETURN_IF_ERROR(keyhold::config::Load(keyhold::config::ProcessEnv(), cfg.get(), &t_config_error));
    keyhold::aead::Prefer(keyhold::aead::Accelerated::kAes256Gcm, cfg->aes_gcm_backend);
    keyhold::aead::Prefer(keyhold::aead::Accelerated::kChaCha20Poly1305, cfg->chacha20_poly1305_backend);
    keyhold::metrics::Configure(cfg->metrics_enabled, cfg->latency_sample);
    if (keyhold::selftest::Run() != keyhold::selftest::State::kPassed) {
      // Recorded on a best-effort basis: the engine refuses to open anyway.
      if (ApplyAuditConfig(cfg->audit).ok()) (void)keyhold::audit::RecordSelfTest(false, "power-on");
      return KH_E_SELF_TEST_FAILED;
    }
    // KEYHOLD_*_BACKEND=ipsec-mb when that accelerated backend is not in
    // use (unavailable, or disabled by the self-test).
    KH_RETURN_IF_ERROR(keyhold::aead::Selected(keyhold::aead::Accelerated::kAes256Gcm).status);
    KH_RETURN_IF_ERROR(keyhold::aead::Selected(keyhold::aead::Accelerated::kChaCha20Poly1305).status);
    // After the self-test: OpenSSL is initialised, so its exit handler runs
    // after the audit trail's final flush.
    KH_RETURN_IF_ERROR(ApplyAuditConfig(cfg->audit));
    KH_RETURN_IF_ERROR(keyhold::audit::RecordSelfTest(true, ""));
    auto e = std::make_shared<EngineObject>();
    e->aead_usage_limit = cfg->aead_max_messages;
    e->use_reservation = cfg->use_reservation;
    e->config = std::move(cfg);
    KH_RETURN_IF_ERROR(HandleTable::Global().Insert(e, nullptr));
    *out_engine = e->handle;
    return OkStatus();
  });
}

kh_status kh_engine_close(kh_handle engine) {
  return Guard(Gate::kAlways, [&]() -> Status {
    std::shared_ptr<Object> e;
    KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
    // Objects are destroyed here, outside the table lock, unless a call in
    // flight still holds one.
    auto removed = HandleTable::Global().RemoveEngine(engine);
    if (removed.empty()) return KH_E_STALE_HANDLE;
    // The engine's last uses reach the audit log now. Use records fail
    // open: the close itself succeeded.
    (void)keyhold::audit::Flush();
    return OkStatus();
  });
}

kh_status kh_engine_stats_get(kh_handle engine, kh_engine_stats* out) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out == nullptr) return KH_E_NULL_POINTER;
    std::shared_ptr<Object> e;
    KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
    const auto arena = keyhold::secmem::Stats();
    *out = kh_engine_stats{};
    out->live_handles = static_cast<EngineObject*>(e.get())->children.load();
    out->secure_bytes_used = arena.bytes_used;
    out->secure_bytes_total = arena.bytes_total;
    out->secure_bytes_locked = arena.bytes_locked;
    out->mlock_failures = arena.mlock_failures;
    out->self_test_passed = keyhold::selftest::Current() == keyhold::selftest::State::kPassed ? 1 : 0;
    return OkStatus();
  });
}

kh_status kh_config_last_error(char* out, size_t out_cap, size_t* out_len) {
  return Guard(Gate::kAlways, [&]() -> Status { return TextOut(t_config_error, out, out_cap, out_len); });
}

kh_status kh_engine_config_get(kh_handle engine, char* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out_len == nullptr) return KH_E_NULL_POINTER;
    std::shared_ptr<const keyhold::config::Config> cfg;
    KH_RETURN_IF_ERROR(EngineConfig(engine, &cfg));
    return TextOut(keyhold::config::ToJson(*cfg), out, out_cap, out_len);
  });
}

kh_status kh_engine_metrics_get(kh_handle engine, uint32_t format, char* out, size_t out_cap,
                                size_t* out_len) {
  ClearOutLen(out_len);
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out_len == nullptr) return KH_E_NULL_POINTER;
    if (format != KH_METRICS_JSON && format != KH_METRICS_PROMETHEUS) return KH_E_INVALID_ARGUMENT;
    std::shared_ptr<Object> e;
    KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
    auto snap = std::make_unique<metrics::Snapshot>();
    const auto arena = keyhold::secmem::Stats();
    snap->live_handles = static_cast<EngineObject*>(e.get())->children.load();
    snap->secure_bytes_used = arena.bytes_used;
    snap->secure_bytes_total = arena.bytes_total;
    snap->secure_bytes_locked = arena.bytes_locked;
    snap->mlock_failures = arena.mlock_failures;
    snap->self_test_passed = keyhold::selftest::Current() == keyhold::selftest::State::kPassed;
    static constexpr char kHex[] = "0123456789abcdef";
    for (const auto& o : HandleTable::Global().Owned(engine)) {
      if (o->kind != Kind::kKeyset) continue;
      const auto& ks = *static_cast<KeysetObject*>(o.get())->ks;
      std::string id;
      for (const uint8_t b : ks.id()) {
        id += kHex[b >> 4];
        id += kHex[b & 15];
      }
      kh_keyset_info info{};
      ks.Info(&info);
      for (uint32_t i = 0; i < info.key_count; ++i) {
        kh_key_info k{};
        if (!ks.KeyInfo(i, &k).ok()) break;  // the keyset shrank meanwhile
        snap->keys.push_back({id, k.key_id, ks.alg_info().name, k.use_count, ks.usage_limit()});
      }
    }
    metrics::Take(snap.get());
    return TextOut(format == KH_METRICS_JSON ? metrics::ToJson(*snap) : metrics::ToPrometheus(*snap), out,
                   out_cap, out_len);
  });
}

kh_status kh_keyset_generate(kh_handle engine, kh_alg alg, uint32_t flags, kh_handle* out_keyset) {
  return Metered(metrics::Op::kKeysetGenerate, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_keyset == nullptr) return KH_E_NULL_POINTER;
      *out_keyset = 0;
      keyhold::keystore::Limits limits;
      KH_RETURN_IF_ERROR(EngineLimits(engine, &limits));
      std::shared_ptr<const keyhold::config::Config> cfg;
      KH_RETURN_IF_ERROR(EngineConfig(engine, &cfg));
      if (keyhold::keyset::FindAlg(static_cast<uint32_t>(alg)) == nullptr) return KH_E_UNSUPPORTED;
      KH_RETURN_IF_ERROR(keyhold::policy::CheckGenerate(cfg->policy, alg, keyhold::audit::Op::kKeyImport));
      return Register(engine,
                      keyhold::keyset::Keyset::Generate(alg, flags, limits.usage_limit, limits.reservation),
                      out_keyset, keyhold::audit::Lifecycle::kCreate);
    });
  });
}

kh_status kh_keyset_import_raw(kh_handle engine, kh_alg alg, const uint8_t* key, size_t key_len,
                               kh_handle* out_keyset) {
  return Metered(metrics::Op::kKeysetImportRaw, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_keyset == nullptr) return KH_E_NULL_POINTER;
      *out_keyset = 0;
      KH_CHECK_IN(key, key_len);
      std::shared_ptr<const keyhold::config::Config> cfg;
      KH_RETURN_IF_ERROR(EngineConfig(engine, &cfg));
      if (keyhold::keyset::FindAlg(static_cast<uint32_t>(alg)) == nullptr) return KH_E_UNSUPPORTED;
      KH_RETURN_IF_ERROR(keyhold::policy::CheckExisting(cfg->policy, alg, keyhold::audit::Op::kKeyImport));
      KH_RETURN_IF_ERROR(keyhold::policy::CheckRawKey(cfg->policy, alg, key_len));
      return Register(engine, keyhold::keyset::Keyset::ImportRaw(alg, In(key, key_len)), out_keyset,
                      keyhold::audit::Lifecycle::kImport);
    });
  });
}

kh_status kh_keyset_import_public(kh_handle engine, kh_alg alg, const uint8_t* pub, size_t pub_len,
                                  kh_handle* out_keyset) {
  return Metered(metrics::Op::kKeysetImportPublic, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_keyset == nullptr) return KH_E_NULL_POINTER;
      *out_keyset = 0;
      KH_CHECK_IN(pub, pub_len);
      std::shared_ptr<const keyhold::config::Config> cfg;
      KH_RETURN_IF_ERROR(EngineConfig(engine, &cfg));
      if (keyhold::keyset::FindAlg(static_cast<uint32_t>(alg)) == nullptr) return KH_E_UNSUPPORTED;
      KH_RETURN_IF_ERROR(keyhold::policy::CheckExisting(cfg->policy, alg, keyhold::audit::Op::kKeyImport));
      return Register(engine, keyhold::keyset::Keyset::ImportPublic(alg, In(pub, pub_len)), out_keyset,
                      keyhold::audit::Lifecycle::kImport);
    });
  });
}

kh_status kh_keyset_rotate(kh_handle keyset, uint32_t* out_new_key_id) {
  return Metered(metrics::Op::kKeysetRotate, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_new_key_id == nullptr) return KH_E_NULL_POINTER;
      KeysetRef ks;
      KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
      if (ks.object()->decrypt_only) {
        return keyhold::policy::RefuseDeprecated(keyhold::audit::Op::kKeyImport, ks->id());
      }
      KH_RETURN_IF_ERROR(keyhold::audit::LifecycleAllowed());
      const Status s = ks->Rotate(out_new_key_id);
      return AuditLifecycle(keyhold::audit::Lifecycle::kRotate, &*ks, s.ok() ? *out_new_key_id : 0, s);
    });
  });
}

#define KH_KEYSET_CALL(keyset, expr)            \
  Guard(Gate::kSelfTest, [&]() -> Status {      \
    KeysetRef ks;                               \
    KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks)); \
    return expr;                                \
  })

// A lifecycle call on one key: refused up front when the audit sink is
// known broken (fail closed), audited with its outcome after.
#define KH_KEYSET_LIFECYCLE(keyset, ev, key_id, expr)                           \
  KH_KEYSET_CALL(keyset, [&]() -> Status {                                      \
    KH_RETURN_IF_ERROR(keyhold::audit::LifecycleAllowed());                     \
    return AuditLifecycle(keyhold::audit::Lifecycle::ev, &*ks, key_id, (expr)); \
  }())

kh_status kh_keyset_set_primary(kh_handle keyset, uint32_t key_id) {
  return KH_KEYSET_LIFECYCLE(keyset, kSetPrimary, key_id, ks->SetPrimary(key_id));
}
kh_status kh_keyset_disable(kh_handle keyset, uint32_t key_id) {
  return KH_KEYSET_LIFECYCLE(keyset, kDisable, key_id, ks->Disable(key_id));
}
kh_status kh_keyset_enable(kh_handle keyset, uint32_t key_id) {
  return KH_KEYSET_LIFECYCLE(keyset, kEnable, key_id, ks->Enable(key_id));
}
kh_status kh_keyset_destroy_key(kh_handle keyset, uint32_t key_id) {
  return KH_KEYSET_LIFECYCLE(keyset, kDestroy, key_id, ks->DestroyKey(key_id));
}

kh_status kh_keyset_info_get(kh_handle keyset, kh_keyset_info* out) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out == nullptr) return KH_E_NULL_POINTER;
    KeysetRef ks;
    KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
    ks->Info(out);
    return OkStatus();
  });
}

kh_status kh_keyset_key_info_get(kh_handle keyset, uint32_t index, kh_key_info* out) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out == nullptr) return KH_E_NULL_POINTER;
    KeysetRef ks;
    KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
    return ks->KeyInfo(index, out);
  });
}

kh_status kh_keyset_public_key(kh_handle keyset, uint32_t key_id, uint32_t format, uint8_t* out,
                               size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_KEYSET_CALL(keyset, ks->PublicKey(key_id, format, MakeOut(out, out_cap, out_len)));
}

kh_status kh_handle_close(kh_handle handle) {
  return Guard(Gate::kAlways, [&]() -> Status {
    std::shared_ptr<Object> o = HandleTable::Global().Lookup(handle);
    if (!o) return KH_E_STALE_HANDLE;
    if (o->kind == Kind::kEngine) return KH_E_WRONG_HANDLE_TYPE;
    return HandleTable::Global().Remove(handle) ? OkStatus() : Status(KH_E_STALE_HANDLE);
  });
}

// Inputs are checked for NULL-with-length before the keyset is touched.
// op: the metrics::Op counted (and, for a decrypt-only keyset, refused
// when it produces output); in: the input bytes; olen: out_len or nullptr.
// Every call that reaches a keyset is counted for the audit trail;
// header: where the key id is (AuditUse).
#define KH_OP_AUDITED(op, in, olen, keyset, header, checks, expr)              \
  Metered(metrics::Op::op, (in), (olen), [&]() noexcept {                      \
    return Guard(Gate::kHot, [&]() -> Status {                                 \
      checks;                                                                  \
      KeysetRef ks;                                                            \
      KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));                              \
      Status st_ = DeniedDeprecated(ks, metrics::Op::op);                      \
      if (st_.ok()) st_ = (expr);                                              \
      AuditUse(ks, metrics::Op::op, st_.code(), (in), OutLenOf(olen), header); \
      return st_;                                                              \
    });                                                                        \
  })
#define KH_OP(op, in, olen, keyset, checks, expr) \
  KH_OP_AUDITED(op, in, olen, keyset, ByteView(), checks, expr)

kh_status kh_aead_encrypt(kh_handle keyset, const uint8_t* pt, size_t pt_len, const uint8_t* aad,
                          size_t aad_len, uint8_t* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP_AUDITED(kAeadEncrypt, pt_len + aad_len, out_len, keyset, OutHeader(out, out_len),
                       KH_CHECK_IN(pt, pt_len);
                       KH_CHECK_IN(aad, aad_len),
                       ks->AeadEncrypt(In(pt, pt_len), In(aad, aad_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_aead_decrypt(kh_handle keyset, const uint8_t* ct, size_t ct_len, const uint8_t* aad,
                          size_t aad_len, uint8_t* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP_AUDITED(kAeadDecrypt, ct_len + aad_len, out_len, keyset, In(ct, ct_len),
                       KH_CHECK_IN(ct, ct_len);
                       KH_CHECK_IN(aad, aad_len),
                       ks->AeadDecrypt(In(ct, ct_len), In(aad, aad_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_aead_seal_nonce(kh_handle keyset, const uint8_t* nonce, size_t nonce_len, const uint8_t* pt,
                             size_t pt_len, const uint8_t* aad, size_t aad_len, uint8_t* out, size_t out_cap,
                             size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP(kAeadSealNonce, pt_len + aad_len, out_len, keyset, KH_CHECK_IN(nonce, nonce_len);
               KH_CHECK_IN(pt, pt_len); KH_CHECK_IN(aad, aad_len),
                                        ks->AeadSealNonce(In(nonce, nonce_len), In(pt, pt_len),
                                                          In(aad, aad_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_aead_open_nonce(kh_handle keyset, const uint8_t* nonce, size_t nonce_len, const uint8_t* ct,
                             size_t ct_len, const uint8_t* aad, size_t aad_len, uint8_t* out, size_t out_cap,
                             size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP(kAeadOpenNonce, ct_len + aad_len, out_len, keyset, KH_CHECK_IN(nonce, nonce_len);
               KH_CHECK_IN(ct, ct_len); KH_CHECK_IN(aad, aad_len),
                                        ks->AeadOpenNonce(In(nonce, nonce_len), In(ct, ct_len),
                                                          In(aad, aad_len), MakeOut(out, out_cap, out_len)));
}

// ------------------------------------------------------------ streaming AEAD

kh_status kh_stream_encrypt_begin(kh_handle keyset, const uint8_t* aad, size_t aad_len, uint32_t segment_size,
                                  uint8_t* header, size_t header_cap, size_t* header_len,
                                  kh_handle* out_stream) {
  ClearOutLen(header_len);
  return Guard(Gate::kSelfTest, [&]() -> Status {
    if (out_stream == nullptr || header_len == nullptr) return KH_E_NULL_POINTER;
    *out_stream = 0;
    KH_CHECK_IN(aad, aad_len);
    if (aad_len > KH_MAX_INPUT_LEN) return KH_E_TOO_LARGE;
    KeysetRef ks;
    KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
    // A decrypt-only (deprecated) keyset may open streams, never start one.
    KH_RETURN_IF_ERROR(DeniedDeprecated(ks, metrics::Op::kStreamSeal));
    if (header == nullptr || header_cap < keyhold::stream::kHeaderLen) {
      *header_len = keyhold::stream::kHeaderLen;
      return header == nullptr && header_cap != 0 ? Status(KH_E_NULL_POINTER) : Status(KH_E_BUFFER_TOO_SMALL);
    }
    auto s = keyhold::stream::Stream::NewEncrypter(*ks, In(aad, aad_len), segment_size);
    if (!s.ok()) return s.status();
    // Copied before the stream is registered (a forged close could end it
    // at once), written to the caller only on success.
    std::array<uint8_t, keyhold::stream::kHeaderLen> h{};
    std::copy((*s)->header().begin(), (*s)->header().end(), h.begin());
    kh_handle handle = 0;
    KH_RETURN_IF_ERROR(RegisterStream(ks, std::move(s), &handle));
    std::copy(h.begin(), h.end(), header);
    *header_len = keyhold::stream::kHeaderLen;
    *out_stream = handle;
    return OkStatus();
  });
}

kh_status kh_stream_decrypt_begin(kh_handle keyset, const uint8_t* header, size_t header_len,
                                  const uint8_t* aad, size_t aad_len, kh_handle* out_stream) {
  return Guard(Gate::kSelfTest, [&]() -> Status {
    if (out_stream == nullptr) return KH_E_NULL_POINTER;
    *out_stream = 0;
    KH_CHECK_IN(header, header_len);
    KH_CHECK_IN(aad, aad_len);
    if (aad_len > KH_MAX_INPUT_LEN) return KH_E_TOO_LARGE;
    KeysetRef ks;
    KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
    return RegisterStream(
        ks, keyhold::stream::Stream::NewDecrypter(*ks, In(header, header_len), In(aad, aad_len)), out_stream);
  });
}

kh_status kh_stream_info_get(kh_handle stream, kh_stream_info* out) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out == nullptr) return KH_E_NULL_POINTER;
    std::shared_ptr<Object> o;
    KH_RETURN_IF_ERROR(GetObject(stream, Kind::kStream, &o));
    const auto* s = static_cast<StreamObject*>(o.get())->st.get();
    *out = kh_stream_info{};
    out->alg = static_cast<uint32_t>(s->alg());
    out->key_id = s->key_id();
    out->segment_size = s->segment_size();
    out->header_len = static_cast<uint32_t>(keyhold::stream::kHeaderLen);
    out->tag_len = static_cast<uint32_t>(keyhold::stream::kTagLen);
    out->encrypting = s->encrypting() ? 1 : 0;
    return OkStatus();
  });
}

kh_status kh_stream_seal(kh_handle stream, uint64_t first, uint32_t last, const uint8_t* pt, size_t pt_len,
                         uint8_t* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return Guard(Gate::kHot, [&]() -> Status {
    if (last > 1) return KH_E_INVALID_ARGUMENT;
    return StreamCall(
        metrics::Op::kStreamSeal, stream, pt, pt_len, out, out_cap, out_len,
        [&](const keyhold::stream::Stream& s, keyhold::stream::Plan* plan) {
          return s.SealPlan(first, last != 0, pt_len, plan);
        },
        [&](keyhold::stream::Stream& s, const keyhold::stream::Plan& plan, ByteView in, uint8_t* o) {
          return s.Seal(first, last != 0, in, plan, o);
        });
  });
}

kh_status kh_stream_open(kh_handle stream, uint64_t first, uint32_t last, const uint8_t* ct, size_t ct_len,
                         uint8_t* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return Guard(Gate::kHot, [&]() -> Status {
    if (last > 1) return KH_E_INVALID_ARGUMENT;
    return StreamCall(
        metrics::Op::kStreamOpen, stream, ct, ct_len, out, out_cap, out_len,
        [&](const keyhold::stream::Stream& s, keyhold::stream::Plan* plan) {
          return s.OpenPlan(first, last != 0, ct_len, plan);
        },
        [&](keyhold::stream::Stream& s, const keyhold::stream::Plan& plan, ByteView in, uint8_t* o) {
          return s.Open(first, last != 0, in, plan, o);
        });
  });
}

kh_status kh_daead_encrypt(kh_handle keyset, const uint8_t* pt, size_t pt_len, const uint8_t* aad,
                           size_t aad_len, uint8_t* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP_AUDITED(kDaeadEncrypt, pt_len + aad_len, out_len, keyset, OutHeader(out, out_len),
                       KH_CHECK_IN(pt, pt_len);
                       KH_CHECK_IN(aad, aad_len),
                       ks->DaeadEncrypt(In(pt, pt_len), In(aad, aad_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_daead_decrypt(kh_handle keyset, const uint8_t* ct, size_t ct_len, const uint8_t* aad,
                           size_t aad_len, uint8_t* out, size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP_AUDITED(kDaeadDecrypt, ct_len + aad_len, out_len, keyset, In(ct, ct_len),
                       KH_CHECK_IN(ct, ct_len);
                       KH_CHECK_IN(aad, aad_len),
                       ks->DaeadDecrypt(In(ct, ct_len), In(aad, aad_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_mac_compute(kh_handle keyset, const uint8_t* msg, size_t msg_len, uint8_t* out, size_t out_cap,
                         size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP_AUDITED(kMacCompute, msg_len, out_len, keyset, OutHeader(out, out_len),
                       KH_CHECK_IN(msg, msg_len),
                       ks->MacCompute(In(msg, msg_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_mac_verify(kh_handle keyset, const uint8_t* msg, size_t msg_len, const uint8_t* tag,
                        size_t tag_len) {
  return KH_OP_AUDITED(kMacVerify, msg_len + tag_len, nullptr, keyset, In(tag, tag_len),
                       KH_CHECK_IN(msg, msg_len);
                       KH_CHECK_IN(tag, tag_len), ks->MacVerify(In(msg, msg_len), In(tag, tag_len)));
}

kh_status kh_sig_sign(kh_handle keyset, const uint8_t* msg, size_t msg_len, uint8_t* out, size_t out_cap,
                      size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP_AUDITED(kSigSign, msg_len, out_len, keyset, OutHeader(out, out_len), KH_CHECK_IN(msg, msg_len),
                       ks->SigSign(In(msg, msg_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_sig_verify(kh_handle keyset, const uint8_t* msg, size_t msg_len, const uint8_t* sig,
                        size_t sig_len) {
  return KH_OP_AUDITED(kSigVerify, msg_len + sig_len, nullptr, keyset, In(sig, sig_len),
                       KH_CHECK_IN(msg, msg_len);
                       KH_CHECK_IN(sig, sig_len), ks->SigVerify(In(msg, msg_len), In(sig, sig_len)));
}

kh_status kh_sig_sign_plain(kh_handle keyset, const uint8_t* msg, size_t msg_len, uint8_t* out,
                            size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP(kSigSignPlain, msg_len, out_len, keyset, KH_CHECK_IN(msg, msg_len),
               ks->SigSignPlain(In(msg, msg_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_sig_sign_digest(kh_handle keyset, const uint8_t* digest, size_t digest_len, uint8_t* out,
                             size_t out_cap, size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP(kSigSignDigest, digest_len, out_len, keyset, KH_CHECK_IN(digest, digest_len),
               ks->SigSignDigest(In(digest, digest_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_sig_verify_plain(kh_handle keyset, uint32_t key_id, const uint8_t* msg, size_t msg_len,
                              const uint8_t* sig, size_t sig_len) {
  return KH_OP(kSigVerifyPlain, msg_len + sig_len, nullptr, keyset, KH_CHECK_IN(msg, msg_len);
               KH_CHECK_IN(sig, sig_len), ks->SigVerifyPlain(key_id, In(msg, msg_len), In(sig, sig_len)));
}

kh_status kh_kex_agree(kh_handle keyset, const uint8_t* peer, size_t peer_len, uint8_t* out, size_t out_cap,
                       size_t* out_len) {
  ClearOutLen(out_len);
  return KH_OP(kKexAgree, peer_len, out_len, keyset, KH_CHECK_IN(peer, peer_len),
               ks->KexAgree(In(peer, peer_len), MakeOut(out, out_cap, out_len)));
}

kh_status kh_kdf_derive(kh_handle keyset, const uint8_t* salt, size_t salt_len, const uint8_t* info,
                        size_t info_len, uint8_t* out, size_t out_len) {
  return KH_OP(kKdfDerive, salt_len + info_len, &out_len, keyset, KH_CHECK_IN(salt, salt_len);
               KH_CHECK_IN(info, info_len);
               KH_CHECK_IN(out, out_len),
               ks->KdfDerive(In(salt, salt_len), In(info, info_len), MutableBytes(out, out_len)));
}

kh_status kh_random_bytes(uint8_t* out, size_t len) {
  return Guard(Gate::kSelfTest, [&]() -> Status {
    KH_CHECK_IN(out, len);
    if (len > KH_MAX_INPUT_LEN) return KH_E_TOO_LARGE;
    if (keyhold::selftest::Run() != keyhold::selftest::State::kPassed) return KH_E_SELF_TEST_FAILED;
    constexpr size_t kChunk = size_t{1} << 30;
    for (size_t off = 0; off < len; off += kChunk) {
      const size_t n = std::min(kChunk, len - off);
      if (RAND_bytes(out + off, static_cast<int>(n)) != 1) {
        OPENSSL_cleanse(out, len);
        return KH_E_INTERNAL;
      }
    }
    return OkStatus();
  });
}

kh_status kh_batch(kh_batch_item* items, size_t count, size_t* out_failed) {
  return Guard(Gate::kSelfTest, [&]() -> Status {
    if (out_failed != nullptr) *out_failed = 0;
    if (items == nullptr && count != 0) return KH_E_NULL_POINTER;
    if (count > KH_MAX_BATCH) return KH_E_TOO_LARGE;
    size_t failed = 0;
    KeysetRef ks;
    kh_handle current = 0;
    for (size_t i = 0; i < count; ++i) {
      kh_batch_item* it = &items[i];
      // Buffers are checked before the handle, in the single calls' order,
      // so an item reports what the single call would.
      kh_status s = BadIn(it->in, it->in_len) || BadIn(it->in2, it->in2_len) || BadIn(it->in3, it->in3_len)
                        ? KH_E_NULL_POINTER
                        : KH_OK;
      // One lookup per run of items on the same keyset.
      if (s == KH_OK && (it->keyset != current || !ks.obj)) {
        ks.obj.reset();
        current = 0;
        s = Status(GetKeyset(it->keyset, &ks)).code();
        if (s == KH_OK) current = it->keyset;
      }
      metrics::Op mop = metrics::Op::kCount;
      const bool counted = ItemOp(it->op, &mop);
      const uint64_t start = counted ? metrics::Begin() : 0;
      if (s == KH_OK) {
        s = Guard(Gate::kHot, [&]() -> Status { return RunItem(ks, it); });
      } else {
        it->out_len = 0;
      }
      if (counted)
        metrics::Record(mop, s, uint64_t{it->in_len} + it->in2_len + it->in3_len, it->out_len, start);
      // Audited like the single call: items that reached their keyset.
      if (counted && ks.obj && current == it->keyset) {
        AuditUse(ks, mop, s, uint64_t{it->in_len} + it->in2_len + it->in3_len, it->out_len, BatchHeader(it));
      }
      it->status = s;
      if (s != KH_OK) ++failed;
    }
    if (out_failed != nullptr) *out_failed = failed;
    return OkStatus();
  });
}

// ------------------------------------------ key-encryption keys, storage

kh_status kh_kek_open(kh_handle engine, const char* spec, size_t spec_len, kh_handle* out_kek) {
  return Guard(Gate::kSelfTest, [&]() -> Status {
    if (out_kek == nullptr) return KH_E_NULL_POINTER;
    *out_kek = 0;
    if (spec == nullptr && spec_len != 0) return KH_E_NULL_POINTER;
    std::shared_ptr<Object> e;
    KH_RETURN_IF_ERROR(GetObject(engine, Kind::kEngine, &e));
    // "default" finds master.key in a config file's [engine] home, unless
    // KEYHOLD_HOME is set when the KEK is opened.
    const auto& cfg = *static_cast<EngineObject*>(e.get())->config;
    auto kek = keyhold::keystore::OpenKek(std::string_view(spec == nullptr ? "" : spec, spec_len),
                                          cfg.home_source == keyhold::config::Source::kFile ? cfg.home : "");
    if (!kek.ok()) return kek.status();
    auto obj = std::make_shared<KekObject>(std::move(kek).value());
    KH_RETURN_IF_ERROR(HandleTable::Global().Insert(obj, static_cast<EngineObject*>(e.get())));
    *out_kek = obj->handle;
    return OkStatus();
  });
}

kh_status kh_kek_kind_get(kh_handle kek, uint32_t* out_kind) {
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out_kind == nullptr) return KH_E_NULL_POINTER;
    std::shared_ptr<keyhold::keystore::Kek> k;
    KH_RETURN_IF_ERROR(GetKek(kek, &k));
    *out_kind = static_cast<uint32_t>(k->kind());
    return OkStatus();
  });
}

kh_status kh_keyset_save_file(kh_handle keyset, kh_handle kek, const char* path, size_t path_len) {
  return Metered(metrics::Op::kKeysetSaveFile, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      std::string p;
      KH_RETURN_IF_ERROR(PathArg(path, path_len, &p));
      KeysetRef ks;
      KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
      std::shared_ptr<keyhold::keystore::Kek> k;
      KH_RETURN_IF_ERROR(GetKek(kek, &k));
      // A save under another KEK is an export (keyhold.h).
      if (ks->exportable() && ks->SaveIsExport(k->id())) {
        KH_RETURN_IF_ERROR(keyhold::policy::CheckExport(ks.object()->config->policy, ks->id()));
      }
      KH_RETURN_IF_ERROR(keyhold::audit::LifecycleAllowed());
      return AuditLifecycle(keyhold::audit::Lifecycle::kSave, &*ks, 0,
                            keyhold::keystore::SaveFile(*ks, k, p));
    });
  });
}

kh_status kh_keyset_load_file(kh_handle engine, kh_handle kek, const char* path, size_t path_len,
                              kh_handle* out_keyset) {
  return Metered(metrics::Op::kKeysetLoadFile, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_keyset == nullptr) return KH_E_NULL_POINTER;
      *out_keyset = 0;
      std::string p;
      KH_RETURN_IF_ERROR(PathArg(path, path_len, &p));
      keyhold::keystore::Limits limits;
      KH_RETURN_IF_ERROR(EngineLimits(engine, &limits));
      std::shared_ptr<keyhold::keystore::Kek> k;
      KH_RETURN_IF_ERROR(GetKek(kek, &k));
      return Register(engine, keyhold::keystore::LoadFile(k, p, limits), out_keyset,
                      keyhold::audit::Lifecycle::kLoad, true);
    });
  });
}

kh_status kh_keyset_file_info_get(const char* path, size_t path_len, kh_keyset_file_info* out,
                                  kh_key_file_info* keys, size_t keys_cap, size_t* out_keys_len) {
  if (out_keys_len != nullptr) *out_keys_len = 0;
  return Guard(Gate::kAlways, [&]() -> Status {
    if (out == nullptr || out_keys_len == nullptr) return KH_E_NULL_POINTER;
    if (keys == nullptr && keys_cap != 0) return KH_E_NULL_POINTER;
    std::string p;
    KH_RETURN_IF_ERROR(PathArg(path, path_len, &p));
    keyhold::keystore::Meta meta;
    KH_RETURN_IF_ERROR(keyhold::keystore::FileInfo(p, &meta));
    if (keys_cap < meta.keys.size()) {
      *out_keys_len = meta.keys.size();
      return KH_E_BUFFER_TOO_SMALL;
    }
    *out = kh_keyset_file_info{};
    out->version = meta.version;
    out->alg = meta.alg;
    out->flags = meta.flags;
    out->kek_kind = meta.kek_kind;
    out->primary_key_id = meta.primary_id;
    out->key_count = static_cast<uint32_t>(meta.keys.size());
    std::copy(meta.id.begin(), meta.id.end(), out->keyset_id);
    for (size_t i = 0; i < meta.keys.size(); ++i) {
      const auto& k = meta.keys[i];
      keys[i] = kh_key_file_info{k.id, static_cast<uint32_t>(k.status), k.created, k.uses};
    }
    *out_keys_len = meta.keys.size();
    return OkStatus();
  });
}

kh_status kh_keyset_export_wrapped(kh_handle keyset, kh_handle kek, uint8_t* out, size_t out_cap,
                                   size_t* out_len) {
  ClearOutLen(out_len);
  return Metered(metrics::Op::kKeysetExportWrapped, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_len == nullptr) return KH_E_NULL_POINTER;
      KeysetRef ks;
      KH_RETURN_IF_ERROR(GetKeyset(keyset, &ks));
      std::shared_ptr<keyhold::keystore::Kek> k;
      KH_RETURN_IF_ERROR(GetKek(kek, &k));
      KH_RETURN_IF_ERROR(keyhold::policy::CheckExport(ks.object()->config->policy, ks->id()));
      auto need = keyhold::keystore::ExportSize(*ks);
      if (!need.ok()) return need.status();
      if (out == nullptr || out_cap < *need) {
        *out_len = *need;
        return KH_E_BUFFER_TOO_SMALL;
      }
      KH_RETURN_IF_ERROR(keyhold::audit::LifecycleAllowed());
      auto blob = keyhold::keystore::ExportWrapped(*ks, *k);
      if (!blob.ok()) return AuditLifecycle(keyhold::audit::Lifecycle::kExport, &*ks, 0, blob.status());
      // The size can change only if the keyset did (a rotation meanwhile).
      if (blob->size() > out_cap) {
        *out_len = blob->size();
        return KH_E_BUFFER_TOO_SMALL;
      }
      // Audited before the blob is handed out: fail closed means no
      // unaudited export.
      KH_RETURN_IF_ERROR(AuditLifecycle(keyhold::audit::Lifecycle::kExport, &*ks, 0, OkStatus()));
      std::copy(blob->begin(), blob->end(), out);
      *out_len = blob->size();
      return OkStatus();
    });
  });
}

kh_status kh_keyset_import_wrapped(kh_handle engine, kh_handle kek, const uint8_t* blob, size_t blob_len,
                                   kh_handle* out_keyset) {
  return Metered(metrics::Op::kKeysetImportWrapped, 0, nullptr, [&]() noexcept {
    return Guard(Gate::kSelfTest, [&]() -> Status {
      if (out_keyset == nullptr) return KH_E_NULL_POINTER;
      *out_keyset = 0;
      KH_CHECK_IN(blob, blob_len);
      keyhold::keystore::Limits limits;
      KH_RETURN_IF_ERROR(EngineLimits(engine, &limits));
      std::shared_ptr<keyhold::keystore::Kek> k;
      KH_RETURN_IF_ERROR(GetKek(kek, &k));
      return Register(engine, keyhold::keystore::ImportWrapped(k, In(blob, blob_len), limits), out_keyset,
                      keyhold::audit::Lifecycle::kImport, true);
    });
  });
}

}  // extern "C"
