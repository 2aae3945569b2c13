// Process hardening of keyholdd (docs/daemon.md, "Hardening").
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace keyhold::daemon {

// NoDumps: not dumpable (no ptrace by other processes of the same uid, no
// /proc/PID/mem), no core files. Called first thing.
std::string NoDumps();

// DropPrivileges: when running as root, switch to user (its uid, gid and
// no supplementary groups); an empty user while root is an error (keyholdd
// refuses to serve as root). A no-op when not root.
std::string DropPrivileges(const std::string& user);

// LookupUser and LookupGroup: the ids of a user or group by name from the
// system databases (getpwnam_r/getgrnam_r: safe while other threads run, as
// on a SIGHUP reload); nullopt when there is no such name or the lookup fails.
struct UserIds {
  uid_t uid;
  gid_t gid;
};
std::optional<UserIds> LookupUser(const std::string& name);
std::optional<gid_t> LookupGroup(const std::string& name);

// InstallSeccomp: a system-call allow-list for the serving phase (epoll,
// sockets, reads and writes, memory, files for reloads and audit logs);
// anything else kills the process. It also forbids mappings that are
// writable and executable, or made executable later. Sets no_new_privs.
std::string InstallSeccomp();

}  // namespace keyhold::daemon
