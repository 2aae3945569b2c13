#include "config/config.h"

// toml++ header-only: the static archive embedded in Go binaries must not
// need another shared library.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "keyset/registry.h"

namespace keyhold::config {
namespace {

// kMaxFileBytes: a configuration file is small; a huge one is a mistake.
constexpr size_t kMaxFileBytes = 1 << 20;
// kQuoteMax: the longest offending value an error shows. A longer one, or
// one with characters outside names and numbers, is described by its
// length only: a key pasted into the wrong variable must not reach a log
// through the error naming that variable (go/leak_test.go).
constexpr size_t kQuoteMax = 24;

enum class Type { kCount, kUint, kBool, kString, kAlgList };

// Value: one knob's raw value from the file or the environment.
struct Value {
  Type type = Type::kString;
  uint64_t u = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> list;
};

std::string Quote(std::string_view v) {
  const bool plain = std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
  if (v.size() > kQuoteMax || !plain)
    return "(a value of " + std::to_string(v.size()) + " characters, not shown)";
  return "\"" + std::string(v) + "\"";
}

// QuotePath shows a file name (KEYHOLD_CONFIG's), which is not a secret.
std::string QuotePath(std::string_view v) {
  std::string q(v.substr(0, 512));
  for (char& c : q) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return "\"" + q + "\"";
}

bool ParseBool(std::string_view v, bool* out) {
  std::string l(v);
  std::transform(l.begin(), l.end(), l.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (l == "true" || l == "1" || l == "yes" || l == "on") {
    *out = true;
  } else if (l == "false" || l == "0" || l == "no" || l == "off") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

bool ParseUint(std::string_view v, uint64_t* out) {
  if (v.empty() || v.size() > 20) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  const std::string s(v);
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = n;
  return true;
}

std::string Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return std::string(v);
}

// AbsolutePathOrOff: an absolute path, or "off" (kept as such).
Status AbsolutePathOrOff(const Value& v, std::string* out, std::string* why) {
  if (v.s != "off" && (v.s.empty() || v.s.front() != '/')) {
    *why = "must be an absolute path or \"off\"";
    return KH_E_INVALID_ARGUMENT;
  }
  *out = v.s;
  return OkStatus();
}

std::string AlgListJson(const std::bitset<kAlgSlots>& set) {
  std::string s = "[";
  bool first = true;
  for (uint32_t a = 0; a < kAlgSlots; ++a) {
    if (!set.test(a)) continue;
    const auto* info = keyset::FindAlg(a);
    if (info == nullptr) continue;
    if (!first) s += ",";
    first = false;
    s += core::JsonString(info->name);
  }
  return s + "]";
}

Status ApplyAlgList(const Value& v, std::bitset<kAlgSlots>* set, std::string* why) {
  set->reset();
  for (const auto& name : v.list) {
    uint32_t alg = 0;
    if (!AlgByName(name, &alg)) {
      *why = "unknown algorithm " + Quote(name);
      return KH_E_INVALID_ARGUMENT;
    }
    set->set(alg);
  }
  return OkStatus();
}

Status ApplyBackend(const Value& v, aead::Preference* p, std::string* why) {
  if (!aead::ParsePreference(v.s.c_str(), p).ok()) {
    *why = "invalid value " + Quote(v.s) + " (auto | openssl | ipsec-mb)";
    return KH_E_INVALID_ARGUMENT;
  }
  return OkStatus();
}

Status PositiveCount(const Value& v, uint64_t* out, std::string* why) {
  if (v.u == 0) {
    *why = "must be a positive count";
    return KH_E_INVALID_ARGUMENT;
  }
  *out = v.u;
  return OkStatus();
}

// Knob: one setting, its file key, its variable and how to apply and show it.
struct Knob {
  const char* table;
  const char* key;
  const char* env;
  Type type;
  Status (*apply)(const Value&, Config*, std::string* why);
  std::string (*show)(const Config&);
};

std::string U64(uint64_t v) { return std::to_string(v); }
std::string Bool(bool b) { return b ? "true" : "false"; }

// The knob table: docs/configuration.md lists the same rows.
const Knob kKnobs[] = {
    {"engine", "aead_max_messages", "KEYHOLD_AEAD_MAX_MESSAGES", Type::kCount,
     [](const Value& v, Config* c, std::string* why) { return PositiveCount(v, &c->aead_max_messages, why); },
     [](const Config& c) { return U64(c.aead_max_messages); }},
    {"engine", "use_reservation", "KEYHOLD_USE_RESERVATION", Type::kCount,
     [](const Value& v, Config* c, std::string* why) { return PositiveCount(v, &c->use_reservation, why); },
     [](const Config& c) { return U64(c.use_reservation); }},
    {"engine", "aesgcm_backend", "KEYHOLD_AESGCM_BACKEND", Type::kString,
     [](const Value& v, Config* c, std::string* why) { return ApplyBackend(v, &c->aes_gcm_backend, why); },
     [](const Config& c) { return core::JsonString(aead::PreferenceName(c.aes_gcm_backend)); }},
    {"engine", "chacha20_poly1305_backend", "KEYHOLD_CHACHA20_POLY1305_BACKEND", Type::kString,
     [](const Value& v, Config* c, std::string* why) {
       return ApplyBackend(v, &c->chacha20_poly1305_backend, why);
     },
     [](const Config& c) { return core::JsonString(aead::PreferenceName(c.chacha20_poly1305_backend)); }},
    {"engine", "home", "KEYHOLD_HOME", Type::kString,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.s.empty() || v.s.front() != '/') {
         *why = "must be an absolute path";
         return KH_E_INVALID_ARGUMENT;
       }
       c->home = v.s;
       return OkStatus();
     },
     [](const Config& c) { return core::JsonString(c.home); }},
    {"policy", "enabled", "KEYHOLD_POLICY_ENABLED", Type::kAlgList,
     [](const Value& v, Config* c, std::string* why) { return ApplyAlgList(v, &c->policy.enabled, why); },
     [](const Config& c) { return AlgListJson(c.policy.enabled); }},
    {"policy", "deprecated", "KEYHOLD_POLICY_DEPRECATED", Type::kAlgList,
     [](const Value& v, Config* c, std::string* why) { return ApplyAlgList(v, &c->policy.deprecated, why); },
     [](const Config& c) { return AlgListJson(c.policy.deprecated); }},
    {"policy", "min_hmac_key_bytes", "KEYHOLD_POLICY_MIN_HMAC_KEY_BYTES", Type::kUint,
     [](const Value& v, Config* c, std::string* why) -> Status {
       // 14 bytes = 112 bits, the floor of NIST SP 800-131A; 1024 is far
       // past any HMAC block.
       if (v.u < 14 || v.u > 1024) {
         *why = "must be between 14 and 1024";
         return KH_E_INVALID_ARGUMENT;
       }
       c->policy.min_hmac_key_bytes = static_cast<uint32_t>(v.u);
       return OkStatus();
     },
     [](const Config& c) { return U64(c.policy.min_hmac_key_bytes); }},
    {"policy", "allow_export", "KEYHOLD_POLICY_ALLOW_EXPORT", Type::kBool,
     [](const Value& v, Config* c, std::string*) {
       c->policy.allow_export = v.b;
       return OkStatus();
     },
     [](const Config& c) { return Bool(c.policy.allow_export); }},
    {"audit", "enabled", "KEYHOLD_AUDIT", Type::kBool,
     [](const Value& v, Config* c, std::string*) {
       c->audit.enabled = v.b;
       return OkStatus();
     },
     [](const Config& c) { return Bool(c.audit.enabled); }},
    {"audit", "file", "KEYHOLD_AUDIT_FILE", Type::kString,
     [](const Value& v, Config* c, std::string* why) {
       return AbsolutePathOrOff(v, &c->audit.file_path, why);
     },
     [](const Config& c) { return core::JsonString(c.audit.file_path); }},
    {"audit", "key_file", "KEYHOLD_AUDIT_KEY", Type::kString,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.s == "off") {
         *why = "must be an absolute path";
         return KH_E_INVALID_ARGUMENT;
       }
       return AbsolutePathOrOff(v, &c->audit.key_path, why);
     },
     [](const Config& c) { return core::JsonString(c.audit.key_path); }},
    {"audit", "syslog", "KEYHOLD_AUDIT_SYSLOG", Type::kBool,
     [](const Value& v, Config* c, std::string*) {
       c->audit.syslog = v.b;
       return OkStatus();
     },
     [](const Config& c) { return Bool(c.audit.syslog); }},
    {"audit", "failure", "KEYHOLD_AUDIT_FAILURE", Type::kString,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.s == "closed") {
         c->audit.lifecycle_failure = audit::FailurePolicy::kFailClosed;
       } else if (v.s == "open") {
         c->audit.lifecycle_failure = audit::FailurePolicy::kFailOpen;
       } else {
         *why = "invalid value " + Quote(v.s) + " (closed | open)";
         return KH_E_INVALID_ARGUMENT;
       }
       return OkStatus();
     },
     [](const Config& c) {
       return std::string(c.audit.lifecycle_failure == audit::FailurePolicy::kFailClosed ? "\"closed\""
                                                                                         : "\"open\"");
     }},
    {"audit", "interval_ms", "KEYHOLD_AUDIT_INTERVAL_MS", Type::kUint,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.u < 10 || v.u > 86400000) {
         *why = "must be between 10 and 86400000";
         return KH_E_INVALID_ARGUMENT;
       }
       c->audit.interval_ms = static_cast<uint32_t>(v.u);
       return OkStatus();
     },
     [](const Config& c) { return U64(c.audit.interval_ms); }},
    {"audit", "checkpoint_every", "KEYHOLD_AUDIT_CHECKPOINT_EVERY", Type::kUint,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.u < 1 || v.u > 1000000) {
         *why = "must be between 1 and 1000000";
         return KH_E_INVALID_ARGUMENT;
       }
       c->audit.checkpoint_every = static_cast<uint32_t>(v.u);
       return OkStatus();
     },
     [](const Config& c) { return U64(c.audit.checkpoint_every); }},
    {"audit", "max_bytes", "KEYHOLD_AUDIT_MAX_BYTES", Type::kUint,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.u != 0 && v.u < 4096) {
         *why = "must be 0 (never rotate) or at least 4096";
         return KH_E_INVALID_ARGUMENT;
       }
       c->audit.max_file_bytes = v.u;
       return OkStatus();
     },
     [](const Config& c) { return U64(c.audit.max_file_bytes); }},
    {"metrics", "enabled", "KEYHOLD_METRICS", Type::kBool,
     [](const Value& v, Config* c, std::string*) {
       c->metrics_enabled = v.b;
       return OkStatus();
     },
     [](const Config& c) { return Bool(c.metrics_enabled); }},
    {"metrics", "latency_sample", "KEYHOLD_METRICS_LATENCY_SAMPLE", Type::kUint,
     [](const Value& v, Config* c, std::string* why) -> Status {
       if (v.u > 65536 || (v.u & (v.u - 1)) != 0) {
         *why = "must be 0 or a power of two up to 65536";
         return KH_E_INVALID_ARGUMENT;
       }
       c->latency_sample = static_cast<uint32_t>(v.u);
       return OkStatus();
     },
     [](const Config& c) { return U64(c.latency_sample); }},
};

constexpr const char* kTables[] = {"engine", "policy", "audit", "metrics"};

// FromEnv parses a variable's text as the knob's type.
bool FromEnv(const Knob& k, const char* text, Value* v, std::string* why) {
  v->type = k.type;
  const std::string_view t(text);
  switch (k.type) {
    case Type::kCount:
    case Type::kUint:
      if (!ParseUint(t, &v->u)) {
        *why = "not a decimal number: " + Quote(t);
        return false;
      }
      return true;
    case Type::kBool:
      if (!ParseBool(t, &v->b)) {
        *why = "not a boolean (true | false): " + Quote(t);
        return false;
      }
      return true;
    case Type::kString:
      v->s = t;
      return true;
    case Type::kAlgList: {
      std::string_view rest = t;
      while (true) {
        const size_t comma = rest.find(',');
        const std::string item = Trim(rest.substr(0, comma));
        if (!item.empty()) v->list.push_back(item);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      return true;
    }
  }
  return false;
}

// FromToml reads a file node as the knob's type.
bool FromToml(const Knob& k, const toml::node& n, Value* v, std::string* why) {
  v->type = k.type;
  switch (k.type) {
    case Type::kCount:
    case Type::kUint: {
      const auto i = n.value_exact<int64_t>();
      if (!i || *i < 0) {
        *why = "must be a non-negative integer";
        return false;
      }
      v->u = static_cast<uint64_t>(*i);
      return true;
    }
    case Type::kBool: {
      const auto b = n.value_exact<bool>();
      if (!b) {
        *why = "must be true or false";
        return false;
      }
      v->b = *b;
      return true;
    }
    case Type::kString: {
      const auto s = n.value_exact<std::string>();
      if (!s) {
        *why = "must be a string";
        return false;
      }
      v->s = *s;
      return true;
    }
    case Type::kAlgList: {
      const toml::array* a = n.as_array();
      if (a == nullptr) {
        *why = "must be an array of algorithm names";
        return false;
      }
      for (const toml::node& e : *a) {
        const auto s = e.value_exact<std::string>();
        if (!s) {
          *why = "must be an array of algorithm names";
          return false;
        }
        v->list.push_back(*s);
      }
      return true;
    }
  }
  return false;
}

const Knob* FindKnob(std::string_view table, std::string_view key) {
  for (const Knob& k : kKnobs) {
    if (table == k.table && key == k.key) return &k;
  }
  return nullptr;
}

Status Fail(std::string* error, std::string text, kh_status code = KH_E_INVALID_ARGUMENT) {
  *error = std::move(text);
  return code;
}

Status Finish(const Getenv& env, const toml::table* file, std::string_view file_name, Config* out,
              std::string* error) {
  std::vector<Source> sources(std::size(kKnobs), Source::kDefault);
  if (file != nullptr) {
    const std::string where = "config file " + std::string(file_name) + ": ";
    for (const auto& [name, node] : *file) {
      const std::string_view t = name.str();
      if (t == "daemon") {
        // keyholdd's own table (socket, ACLs): parsed by the daemon.
        if (!node.is_table()) return Fail(error, where + "[daemon] must be a table");
        continue;
      }
      if (std::find(std::begin(kTables), std::end(kTables), t) == std::end(kTables)) {
        return Fail(error, where + (node.is_table() ? "unknown table [" + Quote(t) + "]"
                                                    : "unknown key " + Quote(t)));
      }
      const toml::table* tab = node.as_table();
      if (tab == nullptr) return Fail(error, where + std::string(t) + " must be a table");
      for (const auto& [key, value] : *tab) {
        const Knob* k = FindKnob(t, key.str());
        if (k == nullptr) {
          return Fail(error, where + "unknown key " + std::string(t) + "." + Quote(key.str()));
        }
        Value v;
        std::string why;
        if (!FromToml(*k, value, &v, &why) || !k->apply(v, out, &why).ok()) {
          std::string text = where;
          text.append(k->table).append(".").append(k->key).append(": ").append(why);
          return Fail(error, std::move(text));
        }
        sources[static_cast<size_t>(k - kKnobs)] = Source::kFile;
      }
    }
  }
  for (size_t i = 0; i < std::size(kKnobs); ++i) {
    const Knob& k = kKnobs[i];
    const char* text = env(k.env);
    if (text == nullptr || *text == '\0') continue;
    Value v;
    std::string why;
    if (!FromEnv(k, text, &v, &why) || !k.apply(v, out, &why).ok()) {
      return Fail(error, std::string(k.env) + ": " + why);
    }
    sources[i] = Source::kEnv;
  }

  // Contradictions, named by where each side came from.
  auto source_of = [&](const char* table, const char* key) {
    return sources[static_cast<size_t>(FindKnob(table, key) - kKnobs)];
  };
  auto name_of = [&](const char* table, const char* key) {
    return source_of(table, key) == Source::kEnv ? std::string(FindKnob(table, key)->env)
                                                 : std::string(table) + "." + key;
  };
  const auto both = out->policy.enabled & out->policy.deprecated;
  if (both.any()) {
    for (uint32_t a = 0; a < kAlgSlots; ++a) {
      if (!both.test(a)) continue;
      return Fail(error, name_of("policy", "deprecated") + ": " + keyset::FindAlg(a)->name + " is also in " +
                             name_of("policy", "enabled") +
                             " (an algorithm is enabled or deprecated, not both)");
    }
  }
  if (out->policy.enabled.none() && out->policy.deprecated.none()) {
    return Fail(error, name_of("policy", "enabled") + ": no algorithm enabled or deprecated");
  }
  if (out->aead_max_messages != 0 && out->aead_max_messages > (uint64_t{1} << 32)) {
    return Fail(error,
                name_of("engine", "aead_max_messages") +
                    ": above 4294967296, the AES-GCM and ChaCha20-Poly1305 limit (it can only be lowered)");
  }
  if (out->use_reservation != 0 && out->aead_max_messages != 0 &&
      out->use_reservation > out->aead_max_messages) {
    return Fail(error, name_of("engine", "use_reservation") + ": larger than " +
                           name_of("engine", "aead_max_messages") + " (a reservation past the usage limit)");
  }
  if (!out->audit.enabled && out->audit.syslog) {
    return Fail(error, name_of("audit", "syslog") + ": syslog enabled while " + name_of("audit", "enabled") +
                           " is false");
  }
  if (out->audit.enabled && out->audit.file_path == "off" && !out->audit.syslog) {
    return Fail(error, name_of("audit", "file") + ": \"off\" with " + name_of("audit", "syslog") +
                           " false leaves the enabled audit trail no sink (set " +
                           name_of("audit", "enabled") + " to false to turn auditing off)");
  }
  if (!out->metrics_enabled && source_of("metrics", "latency_sample") != Source::kDefault &&
      out->latency_sample != 0) {
    return Fail(error, name_of("metrics", "latency_sample") + ": set while " + name_of("metrics", "enabled") +
                           " is false");
  }

  out->home_source = source_of("engine", "home");
  // The audit log lives in the home directory unless placed elsewhere; the
  // audit trail's own default reads only the variable.
  if (out->audit.file_path.empty() && source_of("engine", "home") == Source::kFile) {
    out->audit.file_path = out->home + "/audit.log";
  }
  for (size_t i = 0; i < std::size(kKnobs); ++i) {
    const Knob& k = kKnobs[i];
    out->entries.push_back({std::string(k.table) + "." + k.key, k.env, k.show(*out), sources[i]});
  }
  return OkStatus();
}

void Defaults(const Getenv& env, Config* out) {
  *out = Config{};
  out->policy.enabled = DefaultEnabled();
  const char* home = env("HOME");
  if (home != nullptr && *home != '\0') out->home = std::string(home) + "/.keyhold";
}

}  // namespace

const char* SourceName(Source s) {
  switch (s) {
    case Source::kDefault:
      return "default";
    case Source::kFile:
      return "file";
    case Source::kEnv:
      return "env";
  }
  return "default";
}

Getenv ProcessEnv() {
  // Read at engine open; keyhold never calls setenv.
  return [](const char* name) { return std::getenv(name); };  // NOLINT(concurrency-mt-unsafe)
}

bool AlgByName(std::string_view name, uint32_t* alg) {
  for (uint32_t a = 0; a < kAlgSlots; ++a) {
    const auto* info = keyset::FindAlg(a);
    if (info == nullptr) continue;
    const std::string_view n(info->name);
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char x, char y) {
          return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
        })) {
      *alg = a;
      return true;
    }
  }
  return false;
}

std::bitset<kAlgSlots> DefaultEnabled() {
  std::bitset<kAlgSlots> s;
  for (kh_alg a : {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305, KH_ALG_HMAC_SHA256,
                   KH_ALG_HMAC_SHA512, KH_ALG_ED25519, KH_ALG_ECDSA_P256_SHA256_DER,
                   KH_ALG_ECDSA_P256_SHA256_P1363, KH_ALG_HKDF_SHA256, KH_ALG_HKDF_SHA512}) {
    s.set(static_cast<uint32_t>(a));
  }
  return s;
}

Status LoadFromText(const Getenv& env, std::string_view text, std::string_view file_name, Config* out,
                    std::string* error) {
  Defaults(env, out);
  out->file = file_name;
  toml::table table;
  try {
    table = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    return Fail(error, "config file " + std::string(file_name) + ":" + std::to_string(src.begin.line) + ":" +
                           std::to_string(src.begin.column) + ": " + std::string(e.description()));
  }
  return Finish(env, &table, file_name, out, error);
}

Status Load(const Getenv& env, Config* out, std::string* error) {
  const char* path = env("KEYHOLD_CONFIG");
  if (path == nullptr || *path == '\0') {
    Defaults(env, out);
    return Finish(env, nullptr, "", out, error);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(error, "KEYHOLD_CONFIG: cannot read " + QuotePath(path), KH_E_IO);
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Fail(error, "KEYHOLD_CONFIG: cannot read " + QuotePath(path), KH_E_IO);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes)
    return Fail(error, "KEYHOLD_CONFIG: " + QuotePath(path) + " is larger than 1 MiB");
  return LoadFromText(env, text, path, out, error);
}

std::string ToJson(const Config& c) {
  std::string s = "{\"file\":" + core::JsonString(c.file) + ",\"settings\":[";
  bool first = true;
  for (const auto& e : c.entries) {
    if (!first) s += ",";
    first = false;
    s += "{\"key\":" + core::JsonString(e.key) + ",\"env\":" + core::JsonString(e.env) +
         ",\"value\":" + e.json + ",\"source\":\"" + SourceName(e.source) + "\"}";
  }
  return s + "]}";
}

}  // namespace keyhold::config
