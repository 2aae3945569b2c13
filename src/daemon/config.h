// keyholdd's configuration: command-line flags and the [daemon] table of
// the keyhold configuration file (docs/daemon.md). The rest of that file
// (policy, audit) belongs to the engine and is read by it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keyhold::daemon {

// Operation classes an ACL rule grants (docs/daemon.md, "Authorisation").
enum OpClass : uint32_t {
  kClassEncrypt = 1u << 0,   // aead.encrypt, aead.seal_nonce, daead.encrypt
  kClassDecrypt = 1u << 1,   // aead.decrypt, aead.open_nonce, daead.decrypt
  kClassMac = 1u << 2,       // mac.compute
  kClassVerify = 1u << 3,    // mac.verify, sig.verify, sig.verify_plain
  kClassSign = 1u << 4,      // sig.sign, sig.sign_plain, sig.sign_digest
  kClassDerive = 1u << 5,    // kdf.derive, kex.agree
  kClassInfo = 1u << 6,      // keyset.info, keyset.key_info, keyset.public_key, attach
  kClassGenerate = 1u << 7,  // engine.open, keyset.generate/import (keysets that live in the daemon's memory)
  kClassManage = 1u << 8,    // rotate, set_primary, disable, enable, destroy_key (of such keysets)
  kClassRandom = 1u << 9,    // random
  kClassMetrics = 1u << 10,  // metrics, engine.stats
  kClassAll = (1u << 11) - 1,
};

// ParseOpClass: the class named s ("encrypt", ..., "*" for all).
std::optional<uint32_t> ParseOpClass(const std::string& s);

struct AclRule {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<std::string> keysets;  // names, 32-hex-digit ids, or "*"
  uint32_t classes = 0;
};

struct Config {
  std::string socket_path;
  uint32_t socket_mode = 0660;
  std::vector<std::string> keyset_paths;
  std::string kek_spec = "default";  // kh_kek_open spec for the stored keysets
  std::string config_path;           // --config, or KEYHOLD_CONFIG
  std::string user;                  // run as this user when started as root
  std::string metrics_listen;        // host:port of the Prometheus endpoint; empty: off
  uint32_t workers = 0;              // 0: one per CPU, at most 8
  uint32_t max_connections = 1024;
  uint32_t idle_timeout_ms = 300'000;   // no frame at all for this long: close
  uint32_t read_timeout_ms = 10'000;    // a started frame not complete after this: close
  uint32_t drain_timeout_ms = 10'000;   // SIGTERM: answer what was received, at most this long
  uint64_t buffer_budget = 64u << 20;   // bytes of large frames being received, all connections together
  uint32_t max_objects_per_uid = 4096;  // engines and keysets a uid may create in the daemon
  bool seccomp = true;
  bool foreground_log_debug = false;
  std::vector<AclRule> acl;  // empty: only the daemon's own uid, everything
  uid_t run_uid = 0;         // set by main: the uid keyholdd serves as (after --user)
};

// Configure fills cfg from the configuration file's [daemon] table
// (--config FILE, else $KEYHOLD_CONFIG, if set) and then from the flags,
// which win. On --help/--version it prints and sets *exit_now. Returns an
// error message naming the flag or key, empty when fine. Unknown keys of
// [daemon] are errors.
std::string Configure(int argc, char** argv, Config* cfg, bool* exit_now);

// ReloadAcl re-reads the [daemon.allow] rules of cfg->config_path (SIGHUP).
std::string ReloadAcl(Config* cfg);

}  // namespace keyhold::daemon
