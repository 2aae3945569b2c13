#include "daemon/hardening.h"

#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "daemon/log.h"

namespace keyhold::daemon {

namespace {

// Lookup runs a getpwnam_r-style call, growing its buffer while it answers
// ERANGE (a group with many members can need more than the first 1 KiB).
// True, with *entry filled in, when the name exists.
template <typename Entry, typename Fn>
bool Lookup(Fn fn, const std::string& name, Entry* entry) {
  std::vector<char> buf(1024);
  for (;;) {
    Entry* found = nullptr;
    int rc = fn(name.c_str(), entry, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (size_t{64} << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    return rc == 0 && found != nullptr;
  }
}

}  // namespace

std::optional<UserIds> LookupUser(const std::string& name) {
  passwd pw{};
  if (!Lookup(getpwnam_r, name, &pw)) return std::nullopt;
  return UserIds{pw.pw_uid, pw.pw_gid};
}

std::optional<gid_t> LookupGroup(const std::string& name) {
  group gr{};
  if (!Lookup(getgrnam_r, name, &gr)) return std::nullopt;
  return gr.gr_gid;
}

std::string NoDumps() {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return "prctl(PR_SET_DUMPABLE): " + ErrnoMessage(errno);
  rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return "setrlimit(RLIMIT_CORE): " + ErrnoMessage(errno);
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif
  // Memory-deny-write-execute from the kernel where it has it (6.3+); the
  // seccomp filter below enforces the same on older kernels.
  (void)prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0);
  return "";
}

std::string DropPrivileges(const std::string& user) {
  if (geteuid() != 0) return "";
  if (user.empty()) return "started as root: give --user NAME (keyholdd does not serve as root)";
  std::optional<UserIds> ids = LookupUser(user);
  if (!ids) return "no such user: " + user;
  if (ids->uid == 0) return "--user must not be root";
  uid_t uid = ids->uid;
  gid_t gid = ids->gid;
  if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
    return "dropping privileges: " + ErrnoMessage(errno);
  }
  // Verify: regaining root must fail.
  if (setuid(0) == 0 || geteuid() == 0) return "dropping privileges: still root";
  // setresuid clears the dumpable flag's protection; set it again.
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return "";
}

std::string InstallSeccomp() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "no_new_privs: " + ErrnoMessage(errno);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) return "seccomp_init failed";
  static const int kAllowed[] = {
      // I/O and the event loop
      SCMP_SYS(read),
      SCMP_SYS(write),
      SCMP_SYS(readv),
      SCMP_SYS(writev),
      SCMP_SYS(pread64),
      SCMP_SYS(pwrite64),
      SCMP_SYS(recvfrom),
      SCMP_SYS(sendto),
      SCMP_SYS(recvmsg),
      SCMP_SYS(sendmsg),
      SCMP_SYS(close),
      SCMP_SYS(epoll_wait),
      SCMP_SYS(epoll_pwait),
      SCMP_SYS(epoll_ctl),
      SCMP_SYS(epoll_create1),
      SCMP_SYS(accept4),
      SCMP_SYS(accept),
      SCMP_SYS(getsockopt),
      SCMP_SYS(setsockopt),
      SCMP_SYS(shutdown),
      SCMP_SYS(poll),
      SCMP_SYS(ppoll),
      SCMP_SYS(eventfd2),
      SCMP_SYS(fcntl),
      SCMP_SYS(lseek),
      // threads, time, signals
      SCMP_SYS(futex),
      SCMP_SYS(clock_gettime),
      SCMP_SYS(clock_nanosleep),
      SCMP_SYS(nanosleep),
      SCMP_SYS(gettid),
      SCMP_SYS(getpid),
      SCMP_SYS(getuid),
      SCMP_SYS(geteuid),
      SCMP_SYS(getgid),
      SCMP_SYS(getegid),
      SCMP_SYS(rt_sigprocmask),
      SCMP_SYS(rt_sigtimedwait),
      SCMP_SYS(rt_sigreturn),
      SCMP_SYS(rt_sigaction),
      SCMP_SYS(sigaltstack),
      SCMP_SYS(tgkill),
      SCMP_SYS(sched_yield),
      SCMP_SYS(sched_getaffinity),
      SCMP_SYS(exit),
      SCMP_SYS(exit_group),
      SCMP_SYS(restart_syscall),
      SCMP_SYS(madvise),
      SCMP_SYS(munmap),
      SCMP_SYS(brk),
      SCMP_SYS(mlock),
      SCMP_SYS(munlock),
      SCMP_SYS(mremap),
      SCMP_SYS(getrandom),
      SCMP_SYS(set_robust_list),
      SCMP_SYS(rseq),
      SCMP_SYS(getrlimit),
      SCMP_SYS(prlimit64),
      SCMP_SYS(clone3),
      SCMP_SYS(membarrier),
      // files: SIGHUP reloads keysets (and writes use reservations), audit logs
      SCMP_SYS(openat),
      SCMP_SYS(newfstatat),
      SCMP_SYS(fstat),
      SCMP_SYS(statx),
      SCMP_SYS(fsync),
      SCMP_SYS(fdatasync),
      SCMP_SYS(rename),
      SCMP_SYS(renameat),
      SCMP_SYS(renameat2),
      SCMP_SYS(unlink),
      SCMP_SYS(unlinkat),
      SCMP_SYS(getdents64),
      SCMP_SYS(ftruncate),
      SCMP_SYS(flock),
      SCMP_SYS(fchmod),
      SCMP_SYS(uname),
      SCMP_SYS(readlink),
      SCMP_SYS(access),
      SCMP_SYS(faccessat),
      SCMP_SYS(faccessat2),
      SCMP_SYS(socket),
      SCMP_SYS(connect),
      SCMP_SYS(getsockname),
      SCMP_SYS(getpeername),
      SCMP_SYS(ioctl),
      SCMP_SYS(sysinfo),
  };
  int rc = 0;
  for (int sc : kAllowed) rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 0);
  // Threads (clone without CLONE_NEWUSER etc. is what glibc's pthread_create uses).
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
  // Memory: never executable. mmap/mprotect are allowed only without PROT_EXEC.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  rc |=
      seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
  if (rc != 0) {
    seccomp_release(ctx);
    return "seccomp_rule_add failed";
  }
  rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) return "seccomp_load: " + ErrnoMessage(-rc);
  return "";
}

}  // namespace keyhold::daemon
