// keyholdd: the keyhold engine as a separate process on a Unix socket
// (docs/daemon.md). Start-up order matters: hardening that needs no
// privilege first, then everything that needs the files (configuration,
// KEK, keysets, socket), then the privilege drop and the system-call
// allow-list, then serving.
#include <keyhold/keyhold.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "daemon/config.h"
#include "daemon/hardening.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "daemon/service.h"

using namespace keyhold::daemon;  // NOLINT(google-build-using-namespace)

namespace {

int Fail(const std::string& what) {
  Log(Level::kError, "start-up failed", {{"error", what}});
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken synchronously by the main thread (sigwaitinfo); every
  // thread started later inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (std::string e = NoDumps(); !e.empty()) return Fail(e);
  Config cfg;
  bool exit_now = false;
  if (std::string e = Configure(argc, argv, &cfg, &exit_now); !e.empty()) {
    std::fprintf(stderr, "keyholdd: %s\n", e.c_str());
    return 2;
  }
  if (exit_now) return 0;
  if (cfg.foreground_log_debug) SetLogLevel(Level::kDebug);

  cfg.run_uid = geteuid();
  uid_t run_gid = getegid();
  if (geteuid() == 0) {
    if (cfg.user.empty()) return Fail("started as root: give --user NAME (keyholdd does not serve as root)");
    const passwd* pw = getpwnam(cfg.user.c_str());
    if (pw == nullptr) return Fail("no such user: " + cfg.user);
    cfg.run_uid = pw->pw_uid;
    run_gid = pw->pw_gid;
  }

  // The engine reads its own tables (policy, audit, metrics) from the same
  // file: KEYHOLD_CONFIG is how it finds it (docs/configuration.md).
  if (!cfg.config_path.empty() && setenv("KEYHOLD_CONFIG", cfg.config_path.c_str(), 1) != 0) {
    return Fail("setenv KEYHOLD_CONFIG");
  }
  kh_handle engine = 0;
  if (kh_status s = kh_engine_open(&engine); s != KH_OK) {
    std::string detail(512, '\0');
    size_t n = 0;
    if (kh_config_last_error(detail.data(), detail.size(), &n) == KH_OK) {
      detail.resize(n);
    } else {
      detail.clear();
    }
    return Fail(std::string("engine: ") + kh_status_name(s) + (detail.empty() ? "" : ": " + detail));
  }
  kh_handle kek = 0;
  if (!cfg.keyset_paths.empty()) {
    if (kh_status s = kh_kek_open(engine, cfg.kek_spec.data(), cfg.kek_spec.size(), &kek); s != KH_OK) {
      return Fail("KEK \"" + cfg.kek_spec + "\": " + kh_status_name(s));
    }
  }
  auto svc = std::make_unique<Service>(engine, cfg.max_objects_per_uid);
  std::shared_ptr<State> state;
  if (std::string e = State::Load(cfg, engine, kek, &state); !e.empty()) return Fail(e);
  size_t nkeysets = state->keyset_count();
  svc->SetState(std::move(state));

  Server server(cfg, svc.get());
  if (std::string e = server.Listen(); !e.empty()) return Fail(e);
  if (std::string e = server.ListenMetrics(); !e.empty()) return Fail(e);
  if (geteuid() == 0 && chown(cfg.socket_path.c_str(), cfg.run_uid, run_gid) != 0) {
    return Fail("chown of the socket failed");
  }
  if (std::string e = DropPrivileges(cfg.user); !e.empty()) return Fail(e);
  if (cfg.seccomp) {
    if (std::string e = InstallSeccomp(); !e.empty()) return Fail(e);
  }
  server.Start();
  svc->ready.store(true);
  Log(Level::kInfo, "ready",
      {{"socket", cfg.socket_path},
       {"keysets", nkeysets},
       {"uid", cfg.run_uid},
       {"seccomp", cfg.seccomp ? "on" : "off"},
       {"metrics", server.MetricsAddress()},
       {"version", kh_version()}});

  for (;;) {
    siginfo_t info{};
    int sig = sigwaitinfo(&sigs, &info);
    if (sig == SIGHUP) {
      Config next = cfg;
      std::string e = ReloadAcl(&next);
      std::shared_ptr<State> fresh;
      if (e.empty()) e = State::Load(next, engine, kek, &fresh);
      if (!e.empty()) {
        svc->metrics().reload_failures.fetch_add(1);
        Log(Level::kError, "reload failed; the previous keysets and ACL stay in force", {{"error", e}});
        continue;
      }
      cfg.acl = next.acl;
      size_t n = fresh->keyset_count();
      svc->SetState(std::move(fresh));
      svc->metrics().reloads.fetch_add(1);
      Log(Level::kInfo, "reloaded", {{"keysets", n}, {"rules", cfg.acl.size()}});
    } else if (sig == SIGTERM || sig == SIGINT) {
      Log(Level::kInfo, "draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      svc->ready.store(false);
      server.Drain();
      svc->SetState(nullptr);
      svc.reset();
      if (kek != 0) (void)kh_handle_close(kek);
      (void)kh_engine_close(engine);
      Log(Level::kInfo, "stopped");
      return 0;
    }
  }
}
