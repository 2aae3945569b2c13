// Key-encryption keys (KEKs): what wraps the data key of a stored keyset
// (docs/spec/keyset.md section 5). A KEK's material never leaves the
// engine: file and environment keys are read here into guarded memory (and
// only keys derived from them are kept); a PKCS#11 key never leaves its
// token, which wraps and unwraps itself.
//
// Kek objects are thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "core/status.h"
#include "keyset/keyset.h"
#include "secmem/arena.h"

namespace keyhold::keystore {

// WrapMethod: how a data key is wrapped (the method byte of the file).
enum class WrapMethod : uint8_t {
  kEngineAesGcm = 1,  // file and env KEKs: AES-256-GCM in the engine under an HKDF-derived key
  kTokenAesGcm = 2,   // PKCS#11: CKM_AES_GCM by the token
};

inline constexpr size_t kDataKeyLen = 32;
// kWrapBodyLen: nonce (12) || wrapped data key (32) || tag (16), for both
// methods.
inline constexpr size_t kWrapBodyLen = 12 + kDataKeyLen + 16;

class Kek {
 public:
  virtual ~Kek() = default;
  virtual kh_kek_kind kind() const = 0;
  virtual WrapMethod method() const = 0;
  // id is a non-secret fingerprint: equal for the same key however it is
  // reached (a file KEK and an env KEK of the same bytes are one KEK).
  const keyset::Keyset::KekId& id() const { return id_; }

  // Wrap encrypts the data key, binding aad, into body (kWrapBodyLen).
  virtual Status Wrap(ByteView data_key, ByteView aad, MutableBytes body) = 0;
  // Unwrap reverses Wrap into *data_key. A wrong KEK, another aad or any
  // altered byte: KH_E_AUTH_FAILED. A token that went away:
  // KH_E_KEK_UNAVAILABLE.
  virtual Status Unwrap(ByteView body, ByteView aad, secmem::SecretBytes* data_key) = 0;

 protected:
  keyset::Keyset::KekId id_{};
};

// OpenKek opens the KEK named by spec (the grammar of kh_kek_open in
// keyhold.h). A malformed spec or key: KH_E_INVALID_ARGUMENT.
// home: the config file's [engine] home (src/config/), where "default"
// finds master.key unless $KEYHOLD_HOME is set when the KEK is opened; then,
// or with home empty: $KEYHOLD_HOME, else $HOME/.keyhold, else the
// account's home directory/.keyhold.
StatusOr<std::shared_ptr<Kek>> OpenKek(std::string_view spec, std::string_view home = {});

// NewLocalKek makes a file or env KEK from its 32 key bytes (tests, and the
// file and env providers).
StatusOr<std::shared_ptr<Kek>> NewLocalKek(kh_kek_kind kind, ByteView key);

// DecodeHexKey decodes exactly 64 hex digits into 32 bytes of guarded
// memory. Anything else: KH_E_INVALID_ARGUMENT.
Status DecodeHexKey(std::string_view hex, secmem::SecretBytes* out);

}  // namespace keyhold::keystore
