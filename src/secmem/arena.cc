#include "secmem/arena.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bitset>
#include <memory>
#include <mutex>
#include <vector>

namespace keyhold::secmem {
namespace {

constexpr size_t kBlock = 32;
constexpr size_t kDataBytes = size_t{64} * 1024;  // per arena
constexpr size_t kBlocks = kDataBytes / kBlock;
constexpr size_t kMaxArenas = 1024;  // 64 MiB of key material at most

struct Arena {
  uint8_t* base = nullptr;  // start of the mapping (first guard page)
  uint8_t* data = nullptr;
  size_t map_len = 0;
  bool locked = false;
  std::bitset<kBlocks> used;
  size_t used_blocks = 0;
};

struct State {
  std::mutex mu;
  std::vector<std::unique_ptr<Arena>> arenas;
  ArenaStats stats;
};

State& state() {
  // Leaked on purpose: key objects may be destroyed during static
  // destruction, after a function-local static would be gone.
  static State* s = new State();
  return *s;
}

std::unique_ptr<Arena> NewArena(ArenaStats& stats) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto a = std::make_unique<Arena>();
  a->map_len = kDataBytes + 2 * page;
  void* m = mmap(nullptr, a->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  a->base = static_cast<uint8_t*>(m);
  a->data = a->base + page;
  if (mprotect(a->data, kDataBytes, PROT_READ | PROT_WRITE) != 0) {
    munmap(m, a->map_len);
    return nullptr;
  }
  (void)madvise(a->data, kDataBytes, MADV_DONTDUMP);
  a->locked = mlock(a->data, kDataBytes) == 0;
  stats.bytes_total += kDataBytes;
  if (a->locked) {
    stats.bytes_locked += kDataBytes;
  } else {
    ++stats.mlock_failures;
  }
  return a;
}

// FindRun returns the first index of n free consecutive blocks, or kBlocks.
size_t FindRun(const Arena& a, size_t n) {
  size_t run = 0;
  for (size_t i = 0; i < kBlocks; ++i) {
    run = a.used[i] ? 0 : run + 1;
    if (run == n) return i + 1 - n;
  }
  return kBlocks;
}

}  // namespace

uint8_t* Allocate(size_t n) {
  if (n == 0 || n > kMaxAllocation) return nullptr;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  Arena* target = nullptr;
  size_t at = kBlocks;
  for (auto& a : s.arenas) {
    if (kBlocks - a->used_blocks < blocks) continue;
    at = FindRun(*a, blocks);
    if (at != kBlocks) {
      target = a.get();
      break;
    }
  }
  if (target == nullptr) {
    if (s.arenas.size() >= kMaxArenas) return nullptr;
    auto a = NewArena(s.stats);
    if (!a) return nullptr;
    target = a.get();
    s.arenas.push_back(std::move(a));
    at = 0;
  }
  for (size_t i = at; i < at + blocks; ++i) target->used.set(i);
  target->used_blocks += blocks;
  s.stats.bytes_used += blocks * kBlock;
  return target->data + at * kBlock;  // blocks are zero: zeroized on free
}

void Free(uint8_t* p, size_t n) {
  if (p == nullptr) return;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  OPENSSL_cleanse(p, blocks * kBlock);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& a : s.arenas) {
    if (p >= a->data && p < a->data + kDataBytes) {
      const size_t at = static_cast<size_t>(p - a->data) / kBlock;
      for (size_t i = at; i < at + blocks; ++i) a->used.reset(i);
      a->used_blocks -= blocks;
      s.stats.bytes_used -= blocks * kBlock;
      return;
    }
  }
}

ArenaStats Stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.stats;
}

}  // namespace keyhold::secmem
