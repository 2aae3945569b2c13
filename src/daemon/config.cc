#include "daemon/config.h"

#include <keyhold/keyhold.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "build_info.h"
#include "daemon/hardening.h"

namespace keyhold::daemon {

std::optional<uint32_t> ParseOpClass(const std::string& s) {
  static const struct {
    const char* name;
    uint32_t cls;
  } kNames[] = {{"encrypt", kClassEncrypt}, {"decrypt", kClassDecrypt},   {"mac", kClassMac},
                {"verify", kClassVerify},   {"sign", kClassSign},         {"derive", kClassDerive},
                {"info", kClassInfo},       {"generate", kClassGenerate}, {"manage", kClassManage},
                {"random", kClassRandom},   {"metrics", kClassMetrics},   {"*", kClassAll}};
  for (const auto& n : kNames) {
    if (s == n.name) return n.cls;
  }
  return std::nullopt;
}

namespace {

constexpr const char* kUsage =
    "usage: keyholdd --socket PATH --keyset FILE [--keyset FILE ...] [options]\n"
    "\n"
    "keyholdd serves the keyhold engine over a Unix socket (docs/daemon.md).\n"
    "\n"
    "  --socket PATH          the socket to listen on (created 0660, or --socket-mode)\n"
    "  --keyset FILE          a stored keyset to serve (repeatable)\n"
    "  --kek SPEC             the KEK of the keysets: file:PATH, env:NAME, pkcs11:..., default\n"
    "  --config FILE          configuration file (TOML; [daemon] table and the engine's tables)\n"
    "  --user NAME            when started as root, run as NAME after opening files\n"
    "  --workers N            event-loop threads (default: one per CPU, at most 8)\n"
    "  --max-connections N    connections served at once (default 1024)\n"
    "  --idle-timeout-ms N    close a connection silent for N ms (default 300000)\n"
    "  --read-timeout-ms N    close a connection whose frame is incomplete after N ms (default 10000)\n"
    "  --drain-timeout-ms N   on SIGTERM, answer received requests for at most N ms (default 10000)\n"
    "  --metrics-listen H:P   serve Prometheus metrics over HTTP on this TCP address\n"
    "  --socket-mode OCTAL    mode of the socket file (0660 or stricter)\n"
    "  --buffer-budget-mib N  memory for frames above 64 KiB being received, all connections (default 64)\n"
    "  --no-seccomp           do not install the system-call allow-list (debugging only)\n"
    "  --debug                debug logs\n"
    "  --help, --version\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads keysets and ACLs.\n";

bool ParseU32(std::string_view s, uint32_t* out, int base = 10) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return false;
  *out = v;
  return true;
}

std::string ParseRule(const toml::table& t, size_t index, AclRule* rule) {
  std::string where = "daemon.allow[" + std::to_string(index) + "]";
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (key == "uid") {
      auto n = v.value<int64_t>();
      if (!n || *n < 0 || *n > 0xFFFFFFFE) return where + ".uid: must be a uid number";
      rule->uid = static_cast<uid_t>(*n);
    } else if (key == "gid") {
      auto n = v.value<int64_t>();
      if (!n || *n < 0 || *n > 0xFFFFFFFE) return where + ".gid: must be a gid number";
      rule->gid = static_cast<gid_t>(*n);
    } else if (key == "user") {
      auto s = v.value<std::string>();
      std::optional<UserIds> ids = s ? LookupUser(*s) : std::nullopt;
      if (!ids) return where + ".user: no such user";
      rule->uid = ids->uid;
    } else if (key == "group") {
      auto s = v.value<std::string>();
      std::optional<gid_t> gid = s ? LookupGroup(*s) : std::nullopt;
      if (!gid) return where + ".group: no such group";
      rule->gid = *gid;
    } else if (key == "keysets" || key == "ops") {
      const toml::array* a = v.as_array();
      if (a == nullptr) return where.append(".").append(key).append(": must be an array of strings");
      for (const auto& e : *a) {
        auto s = e.value<std::string>();
        if (!s) return where.append(".").append(key).append(": must be an array of strings");
        if (key == "keysets") {
          rule->keysets.push_back(*s);
        } else {
          auto c = ParseOpClass(*s);
          if (!c) return where.append(".ops: unknown operation class \"").append(*s).append("\"");
          rule->classes |= *c;
        }
      }
    } else {
      return where.append(": unknown key \"").append(key).append("\"");
    }
  }
  if (!rule->uid && !rule->gid) return where + ": needs uid, gid, user or group";
  if (rule->classes == 0) return where + ".ops: missing or empty";
  return "";
}

std::string LoadDaemonTable(const std::string& path, Config* cfg, bool acl_only) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return "config " + path + ": line " + std::to_string(e.source().begin.line) + ": " +
           std::string(e.description());
  }
  const toml::table* d = root["daemon"].as_table();
  if (d == nullptr) {
    if (root.contains("daemon")) return "config " + path + ": daemon must be a table";
    if (acl_only) cfg->acl.clear();
    return "";
  }
  std::vector<AclRule> acl;
  for (const auto& [k, node] : *d) {
    // A named reference: clang 14 cannot capture a structured binding.
    const toml::node& v = node;
    std::string key(k.str());
    std::string err;
    auto str = [&](std::string* out) {
      auto s = v.value<std::string>();
      if (!s)
        err = "daemon." + key + ": must be a string";
      else if (!acl_only)
        *out = *s;
    };
    auto num = [&](auto* out) {
      auto n = v.value<int64_t>();
      if (!n || *n < 0 || *n > 0xFFFFFFFFLL)
        err = "daemon." + key + ": must be a non-negative integer";
      else if (!acl_only)
        *out = static_cast<std::remove_pointer_t<decltype(out)>>(*n);
    };
    if (key == "socket") {
      str(&cfg->socket_path);
    } else if (key == "kek") {
      str(&cfg->kek_spec);
    } else if (key == "user") {
      str(&cfg->user);
    } else if (key == "metrics_listen") {
      str(&cfg->metrics_listen);
    } else if (key == "socket_mode") {
      std::string m;
      str(&m);
      if (err.empty() && !acl_only && !ParseU32(m, &cfg->socket_mode, 8))
        err = "daemon.socket_mode: must be octal";
    } else if (key == "keysets") {
      const toml::array* a = v.as_array();
      if (a == nullptr) {
        err = "daemon.keysets: must be an array of paths";
      } else if (!acl_only) {
        for (const auto& e : *a) {
          auto s = e.value<std::string>();
          if (!s) {
            err = "daemon.keysets: must be an array of paths";
            break;
          }
          cfg->keyset_paths.push_back(*s);
        }
      }
    } else if (key == "workers") {
      num(&cfg->workers);
    } else if (key == "max_connections") {
      num(&cfg->max_connections);
    } else if (key == "idle_timeout_ms") {
      num(&cfg->idle_timeout_ms);
    } else if (key == "read_timeout_ms") {
      num(&cfg->read_timeout_ms);
    } else if (key == "drain_timeout_ms") {
      num(&cfg->drain_timeout_ms);
    } else if (key == "max_objects_per_uid") {
      num(&cfg->max_objects_per_uid);
    } else if (key == "buffer_budget_mib") {
      uint32_t mib = 0;
      num(&mib);
      if (err.empty() && !acl_only) cfg->buffer_budget = uint64_t{mib} << 20;
    } else if (key == "allow") {
      const toml::array* a = v.as_array();
      if (a == nullptr) {
        err = "daemon.allow: must be an array of tables ([[daemon.allow]])";
      } else {
        for (size_t i = 0; i < a->size() && err.empty(); ++i) {
          const toml::table* t = (*a)[i].as_table();
          if (t == nullptr) {
            err = "daemon.allow: must be an array of tables ([[daemon.allow]])";
            break;
          }
          AclRule r;
          err = ParseRule(*t, i, &r);
          acl.push_back(std::move(r));
        }
      }
    } else {
      err = "daemon: unknown key \"" + key + "\"";
    }
    if (!err.empty()) return ("config " + path).append(": ").append(err);
  }
  cfg->acl = std::move(acl);
  return "";
}

}  // namespace

std::string ReloadAcl(Config* cfg) {
  if (cfg->config_path.empty()) return "";
  return LoadDaemonTable(cfg->config_path, cfg, /*acl_only=*/true);
}

std::string Configure(int argc, char** argv, Config* cfg, bool* exit_now) {
  *exit_now = false;
  // The file first, so that flags override it.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0) cfg->config_path = argv[i + 1];
  }
  if (cfg->config_path.empty()) {
    // Start-up, before any thread: nothing changes the environment concurrently.
    if (const char* env = std::getenv("KEYHOLD_CONFIG"); env != nullptr)  // NOLINT(concurrency-mt-unsafe)
      cfg->config_path = env;
  }
  std::vector<std::string> file_keysets;
  if (!cfg->config_path.empty()) {
    std::string err = LoadDaemonTable(cfg->config_path, cfg, /*acl_only=*/false);
    if (!err.empty()) return err;
    file_keysets = std::move(cfg->keyset_paths);
    cfg->keyset_paths.clear();
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      (void)std::fputs(kUsage, stdout);
      *exit_now = true;
      return "";
    }
    if (a == "--version") {
      std::printf("keyholdd %s (ABI %d, source %s)\n", KEYHOLD_VERSION_STRING, KH_ABI_VERSION,
                  KEYHOLD_SOURCE_REVISION);
      *exit_now = true;
      return "";
    }
    if (a == "--no-seccomp") {
      cfg->seccomp = false;
      continue;
    }
    if (a == "--debug") {
      cfg->foreground_log_debug = true;
      continue;
    }
    if (i + 1 >= argc) return "flag " + a + " needs a value (see --help)";
    std::string v = argv[++i];
    auto u32 = [&](uint32_t* out) -> std::string {
      return ParseU32(v, out) ? "" : "flag " + a + ": not a non-negative integer";
    };
    std::string err;
    if (a == "--socket")
      cfg->socket_path = v;
    else if (a == "--keyset")
      cfg->keyset_paths.push_back(v);
    else if (a == "--kek")
      cfg->kek_spec = v;
    else if (a == "--config") {
    } else if (a == "--user")
      cfg->user = v;
    else if (a == "--metrics-listen")
      cfg->metrics_listen = v;
    else if (a == "--workers")
      err = u32(&cfg->workers);
    else if (a == "--max-connections")
      err = u32(&cfg->max_connections);
    else if (a == "--idle-timeout-ms")
      err = u32(&cfg->idle_timeout_ms);
    else if (a == "--read-timeout-ms")
      err = u32(&cfg->read_timeout_ms);
    else if (a == "--drain-timeout-ms")
      err = u32(&cfg->drain_timeout_ms);
    else if (a == "--buffer-budget-mib") {
      uint32_t mib = 0;
      err = u32(&mib);
      cfg->buffer_budget = uint64_t{mib} << 20;
    } else if (a == "--socket-mode")
      err = ParseU32(v, &cfg->socket_mode, 8) ? "" : "flag --socket-mode: not octal";
    else
      return "unknown flag " + a + " (see --help)";
    if (!err.empty()) return err;
  }
  if (cfg->keyset_paths.empty()) cfg->keyset_paths = std::move(file_keysets);
  if (cfg->socket_path.empty()) return "no socket: give --socket PATH (or daemon.socket in the config file)";
  if ((cfg->socket_mode & ~0660u) != 0)
    return "socket mode " + std::to_string(cfg->socket_mode) +
           ": must be 0660 or stricter (no access for others)";
  if (cfg->max_connections == 0) return "max connections must be at least 1";
  if (cfg->workers > 64) return "workers: at most 64";
  return "";
}

}  // namespace keyhold::daemon
