// Per-process backend selection (backends.h, decision 0011).
#include "aead/backends.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace keyhold::aead {
namespace {

struct State {
  std::once_flag once;
  std::atomic<Backend> backend{Backend::kOpenSSL};
  std::mutex mu;  // guards info after `once`
  Selection info{"auto", Backend::kOpenSSL, false, "", false, "", OkStatus()};
  std::atomic<int> preferred{-1};  // a Preference from Prefer, or -1
};

State& TheState(Accelerated which) {
  // Leaked on purpose, like the other process-wide state: keys may be made
  // or used during static destruction.
  static State* states = new State[2];
  return states[which == Accelerated::kAes256Gcm ? 0 : 1];
}

void Decide(Accelerated which, State& s) {
  Selection& in = s.info;
  // Read once per process: the choice cannot change under existing keys.
  const char* env = std::getenv(BackendVariable(which));  // NOLINT(concurrency-mt-unsafe)
  Preference pref = Preference::kAuto;
  const int preferred = s.preferred.load(std::memory_order_acquire);
  if (preferred >= 0) {
    pref = static_cast<Preference>(preferred);
  } else if (!ParsePreference(env, &pref).ok()) {
    in.requested = "invalid";
    in.disabled_reason = which == Accelerated::kAes256Gcm
                             ? "KEYHOLD_AESGCM_BACKEND has an invalid value"
                             : "KEYHOLD_CHACHA20_POLY1305_BACKEND has an invalid value";
    return;
  }
  in.requested = PreferenceName(pref);
  if (pref == Preference::kOpenSSL) {
    // Not even probed: whoever set this may be avoiding the library.
    in.disabled_reason = which == Accelerated::kAes256Gcm ? "KEYHOLD_AESGCM_BACKEND=openssl"
                                                          : "KEYHOLD_CHACHA20_POLY1305_BACKEND=openssl";
    return;
  }
  const IpsecMbInfo& mb = ProbeIpsecMb();
  in.probed = true;
  in.arch = mb.arch;
  in.vaes = mb.vaes;
  if (!mb.available) {
    in.disabled_reason = mb.unavailable_reason;
    if (pref == Preference::kIpsecMb) in.status = KH_E_UNSUPPORTED;
    return;
  }
  in.backend = Backend::kIpsecMb;
  s.backend.store(Backend::kIpsecMb, std::memory_order_release);
}

State& Decided(Accelerated which) {
  State& s = TheState(which);
  std::call_once(s.once, [&s, which] {
    std::lock_guard<std::mutex> lock(s.mu);
    Decide(which, s);
  });
  return s;
}

}  // namespace

const char* PreferenceName(Preference p) {
  switch (p) {
    case Preference::kAuto:
      return "auto";
    case Preference::kOpenSSL:
      return "openssl";
    case Preference::kIpsecMb:
      return "ipsec-mb";
  }
  return "invalid";
}

void Prefer(Accelerated which, Preference p) {
  TheState(which).preferred.store(static_cast<int>(p), std::memory_order_release);
}

const char* BackendVariable(Accelerated which) {
  return which == Accelerated::kAes256Gcm ? "KEYHOLD_AESGCM_BACKEND" : "KEYHOLD_CHACHA20_POLY1305_BACKEND";
}

Status ParsePreference(const char* value, Preference* out) {
  if (value == nullptr || *value == '\0' || std::strcmp(value, "auto") == 0) {
    *out = Preference::kAuto;
  } else if (std::strcmp(value, "openssl") == 0) {
    *out = Preference::kOpenSSL;
  } else if (std::strcmp(value, "ipsec-mb") == 0) {
    *out = Preference::kIpsecMb;
  } else {
    return KH_E_INVALID_ARGUMENT;
  }
  return OkStatus();
}

Selection Selected(Accelerated which) {
  State& s = Decided(which);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.info;
}

Backend CurrentBackend(Accelerated which) { return Decided(which).backend.load(std::memory_order_acquire); }

void DisableIpsecMb(Accelerated which, const char* reason) {
  State& s = Decided(which);
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.info.backend != Backend::kIpsecMb) return;
  s.info.backend = Backend::kOpenSSL;
  s.info.disabled_reason = reason;
  if (std::strcmp(s.info.requested, "ipsec-mb") == 0) s.info.status = KH_E_UNSUPPORTED;
  s.backend.store(Backend::kOpenSSL, std::memory_order_release);
}

}  // namespace keyhold::aead
