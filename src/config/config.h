// Engine configuration: every knob, from KEYHOLD_* environment variables and
// an optional TOML file (KEYHOLD_CONFIG), the environment overriding the
// file (docs/configuration.md, docs/decisions/0015-configuration-and-policy.md).
//
// Load either returns a complete Config or an error naming the variable or
// key at fault: an engine never starts half-configured. Nothing read here is
// secret; error texts quote at most a short prefix of an offending value.
#pragma once

#include <bitset>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aead/backends.h"
#include "audit/audit.h"
#include "core/status.h"

namespace keyhold::config {

// Source: where a value came from.
enum class Source : uint8_t { kDefault, kFile, kEnv };
const char* SourceName(Source s);

// kAlgSlots: kh_alg values below this index the policy bitsets.
constexpr uint32_t kAlgSlots = 128;

// Policy: what the engine may do with which algorithm (src/policy/).
struct Policy {
  // enabled: full use. deprecated: existing keys decrypt and verify only;
  // no generation, encryption, signing, MAC computation, derivation or
  // agreement. Neither: refused everywhere. The two sets are disjoint.
  std::bitset<kAlgSlots> enabled;
  std::bitset<kAlgSlots> deprecated;
  // min_hmac_key_bytes: shortest raw HMAC key accepted by import.
  uint32_t min_hmac_key_bytes = 16;
  // allow_export: whether wrapped export (and saving under another KEK) is
  // permitted at all; keysets still need KH_KEYSET_EXPORTABLE.
  bool allow_export = true;
};

struct Config {
  // [engine]
  uint64_t aead_max_messages = 0;  // 0: the algorithm's own limit
  uint64_t use_reservation = 0;    // 0: keyset::Keyset::kDefaultReservation
  aead::Preference aes_gcm_backend = aead::Preference::kAuto;
  aead::Preference chacha20_poly1305_backend = aead::Preference::kAuto;
  std::string home;  // KEYHOLD_HOME, else $HOME/.keyhold
  Source home_source = Source::kDefault;
  std::string file;  // the config file read, if any

  Policy policy;
  audit::Config audit;  // [audit], KEYHOLD_AUDIT*

  // [metrics]
  bool metrics_enabled = true;
  uint32_t latency_sample = 64;  // time 1 in N operations; 0: never

  // Entry: one knob's effective value, for kh_engine_config_get.
  struct Entry {
    std::string key;   // "table.key"
    std::string env;   // its variable
    std::string json;  // the value as JSON
    Source source = Source::kDefault;
  };
  std::vector<Entry> entries;
};

// Getenv reads one variable; nullptr when unset. Tests pass their own.
using Getenv = std::function<const char*(const char*)>;
// ProcessEnv: std::getenv.
Getenv ProcessEnv();

// Load fills *out from the environment and the file it names. On failure it
// returns KH_E_INVALID_ARGUMENT (malformed value, unknown key, contradiction)
// or KH_E_IO (KEYHOLD_CONFIG unreadable) and sets *error to one line naming
// the variable or key; *out is then unspecified.
Status Load(const Getenv& env, Config* out, std::string* error);

// ParseFile is Load with the file's text given (tests).
Status LoadFromText(const Getenv& env, std::string_view toml, std::string_view file_name, Config* out,
                    std::string* error);

// ToJson renders the effective configuration:
// {"file": ..., "settings": [{"key","env","value","source"}...]}.
std::string ToJson(const Config& c);

// AlgByName maps "AES256_GCM" (kh_alg_name, case-insensitive) to its value.
bool AlgByName(std::string_view name, uint32_t* alg);

// DefaultEnabled: the algorithms a fresh install enables.
std::bitset<kAlgSlots> DefaultEnabled();

}  // namespace keyhold::config
