// The guarded arena: memory is locked (or the failure is counted), excluded
// from core dumps, fenced by guard pages and zeroized on free.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "secmem/arena.h"
#include "test_util.h"

namespace keyhold {
namespace {

// Mapping finds the /proc/self/smaps entry containing p.
struct Mapping {
  uintptr_t start = 0, end = 0;
  std::string perms, body;
};
Mapping FindMapping(const void* p) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  Mapping cur;
  bool in = false;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(f, line)) {
    unsigned long s = 0, e = 0;
    char perms[8] = {0};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &s, &e, perms) == 3) {
      if (in) return cur;  // the next mapping starts: done
      in = addr >= s && addr < e;
      cur = Mapping{s, e, perms, ""};
    } else if (in) {
      cur.body += line + "\n";
    }
  }
  return in ? cur : Mapping{};
}

TEST(SecMem, AllocationsAreGuardedLockedAndExcludedFromDumps) {
  auto s = secmem::SecretBytes::Create(48);
  ASSERT_TRUE(s.ok());
  const Mapping m = FindMapping(s.data());
  ASSERT_NE(m.start, 0u);
  EXPECT_EQ(m.perms.substr(0, 2), "rw");
  EXPECT_NE(m.body.find("VmFlags:"), std::string::npos);
  EXPECT_NE(m.body.find(" dd"), std::string::npos) << "MADV_DONTDUMP missing:\n" << m.body;
  const Mapping before = FindMapping(reinterpret_cast<const void*>(m.start - 1));
  const Mapping after = FindMapping(reinterpret_cast<const void*>(m.end));
  EXPECT_EQ(before.perms.substr(0, 3), "---") << "no guard page before the arena";
  EXPECT_EQ(after.perms.substr(0, 3), "---") << "no guard page after the arena";
  const auto st = secmem::Stats();
  EXPECT_GE(st.bytes_used, 64u);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // Locked pages show in smaps (as root, or within RLIMIT_MEMLOCK).
  if (st.mlock_failures == 0) {
    EXPECT_NE(m.body.find(" lo"), std::string::npos) << "mlock missing:\n" << m.body;
  }
#endif
  EXPECT_EQ(st.bytes_total, st.bytes_locked + st.mlock_failures * 64 * 1024);
  std::printf("arena: %llu bytes mapped, %llu locked, %llu arenas not locked\n",
              static_cast<unsigned long long>(st.bytes_total),
              static_cast<unsigned long long>(st.bytes_locked),
              static_cast<unsigned long long>(st.mlock_failures));
}

TEST(SecMem, FreedBlocksAreZeroized) {
  uint8_t* p = secmem::Allocate(40);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xA5, 40);
  secmem::Free(p, 40);
  // The arena stays mapped; the block must read back as zeros.
  for (int i = 0; i < 64; ++i) ASSERT_EQ(p[i], 0) << i;
  EXPECT_EQ(secmem::Allocate(0), nullptr);
  EXPECT_EQ(secmem::Allocate(secmem::kMaxAllocation + 1), nullptr);
}

TEST(SecMemDeathTest, GuardPageFaultsOnOverrun) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto s = secmem::SecretBytes::Create(32);
  ASSERT_TRUE(s.ok());
  const Mapping m = FindMapping(s.data());
  volatile const uint8_t* past_end = reinterpret_cast<const uint8_t*>(m.end);
  EXPECT_DEATH((void)*past_end, "");
}

int LockedArenaChild() {
  // Root has CAP_IPC_LOCK and ignores RLIMIT_MEMLOCK: become nobody first.
  if (geteuid() == 0 && setuid(65534) != 0) return 2;
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 3;
  const auto before = secmem::Stats();
  std::vector<secmem::SecretBytes> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back(secmem::SecretBytes::Create(32));  // more than one arena
  const auto after = secmem::Stats();
  if (!keys.back().ok()) return 4;
  return after.mlock_failures > before.mlock_failures ? 0 : 5;
}

TEST(SecMemDeathTest, SmallMemlockLimitDegradesAndIsReported) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizer runtimes replace mlock with a no-op; covered by the plain build";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // In a child with RLIMIT_MEMLOCK = 0 new arenas cannot be locked: they
  // must still work, and the failure must be counted.
  EXPECT_EXIT(std::exit(LockedArenaChild()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace keyhold
