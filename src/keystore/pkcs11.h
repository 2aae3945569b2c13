// PKCS#11 KEKs: a non-extractable AES-256 key inside a token, which wraps
// and unwraps data keys itself (CKM_AES_GCM). The module is dlopen'ed; the
// interface comes from p11-kit's pkcs11.h (Debian libp11-kit-dev), and
// nothing links against p11-kit.
#pragma once

#include <memory>
#include <string>

#include "keystore/kek.h"

namespace keyhold::keystore {

struct Pkcs11Spec {
  std::string module;   // absolute path of the PKCS#11 module
  std::string token;    // token label (at most 32 bytes)
  std::string pin_env;  // variable holding the user PIN; empty: no login
  std::string key;      // label of the AES key (created if missing)
};

// OpenPkcs11Kek loads the module (once per process), finds the token, logs
// in, and finds or creates the key. No token with that label, an unset PIN
// variable or a wrong PIN: KH_E_KEK_UNAVAILABLE. A module that cannot be
// loaded: KH_E_KEK_UNAVAILABLE. An existing key that is extractable, not
// sensitive or not AES-256: KH_E_POLICY_DENIED.
StatusOr<std::shared_ptr<Kek>> OpenPkcs11Kek(const Pkcs11Spec& spec);

}  // namespace keyhold::keystore
