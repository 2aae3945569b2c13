// Per-process backend selection for the AEADs that intel-ipsec-mb
// accelerates (docs/decisions/0011-ipsec-mb-aes-gcm.md).
//
// AES-256-GCM and ChaCha20-Poly1305 each have two backends: OpenSSL (on
// every machine) and Intel's Multi-Buffer Crypto library (ipsec_mb*.cc:
// x86-64 with AES-NI; AES-GCM ~4x OpenSSL 3.0 with VAES/AVX-512,
// ChaCha20-Poly1305 ~1.2-1.4x). Each primitive's backend is chosen once per
// process, before the first key exists, and kept: ipsec-mb's precomputed
// AES-GCM key data only works with the manager architecture that made it,
// so keys of one primitive never mix backends. The one change after the
// choice is the power-on self-test switching a primitive to OpenSSL when the
// accelerated backend disagrees with the known answers or with OpenSSL; it
// runs before any engine opens, so no key of the ABI was made with the
// backend it disables.
#pragma once

#include "core/status.h"

namespace keyhold::aead {

// The primitives with a choice of backend, and the variable choosing each:
// KEYHOLD_AESGCM_BACKEND, KEYHOLD_CHACHA20_POLY1305_BACKEND.
enum class Accelerated { kAes256Gcm, kChaCha20Poly1305 };
const char* BackendVariable(Accelerated which);

// The values of those variables.
enum class Preference { kAuto, kOpenSSL, kIpsecMb };

// ParsePreference: nullptr or "" mean auto; otherwise exactly "auto",
// "openssl" or "ipsec-mb". Anything else is KH_E_INVALID_ARGUMENT: a typo
// must not silently pick a backend.
Status ParsePreference(const char* value, Preference* out);
// PreferenceName: "auto", "openssl" or "ipsec-mb".
const char* PreferenceName(Preference p);
// Prefer sets the preference from the engine configuration (the variable or
// the config file, src/config/). It counts only before the primitive's
// backend is decided (the first engine open); without it the variable is read.
void Prefer(Accelerated which, Preference p);

enum class Backend { kOpenSSL, kIpsecMb };

// IpsecMbInfo: whether intel-ipsec-mb can run in this process. Probing
// allocates one manager and runs the library's own self-test, so it happens
// once, and only when something asks for an accelerated backend. Strings
// are static and data-free.
struct IpsecMbInfo {
  bool available;
  const char* arch;                // manager type for every thread: "avx512", "avx2", "avx", "sse"
  bool vaes;                       // the avx512 manager runs the VAES/VPCLMULQDQ code
  const char* unavailable_reason;  // "" when available
};
const IpsecMbInfo& ProbeIpsecMb();
// IpsecMbVersion: the linked library's version, "" when not built in. Does
// not probe.
const char* IpsecMbVersion();

// Selection: one primitive's backend in this process. Strings are static
// and data-free.
struct Selection {
  const char* requested;  // "auto", "openssl", "ipsec-mb", or "invalid"
  Backend backend;
  bool probed;                  // ipsec-mb was probed (arch and vaes are meaningful)
  const char* arch;             // from the probe; "" if not probed or unavailable
  bool vaes;                    // from the probe
  const char* disabled_reason;  // why ipsec-mb is not in use; "" when it is
  // KH_E_UNSUPPORTED when the variable required ipsec-mb and it is not in
  // use; kh_engine_open returns it.
  Status status;
};

// Selected returns the selection, making it on the first call from the
// variable and the probe. Thread-safe. An invalid variable selects OpenSSL
// here (kh_engine_open refuses it separately).
Selection Selected(Accelerated which);
// CurrentBackend: the backend the factory uses now (one atomic load after
// the first call).
Backend CurrentBackend(Accelerated which);

// DisableIpsecMb switches one primitive to OpenSSL and records why (the
// self-test calls it). reason: a static, data-free string.
void DisableIpsecMb(Accelerated which, const char* reason);

}  // namespace keyhold::aead
