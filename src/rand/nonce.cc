#include "rand/nonce.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <cstring>

#include "backend/openssl.h"

namespace keyhold::rand {
namespace {

constexpr size_t kBufLen = 4096;

std::atomic<uint64_t> g_fork_generation{1};

void OnForkChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct Buffer {
  alignas(64) uint8_t bytes[kBufLen];
  size_t pos = kBufLen;  // empty
  uint64_t generation = 0;
  ~Buffer() { OPENSSL_cleanse(bytes, sizeof(bytes)); }
};

void RegisterAtFork() {
  static const bool registered = [] { return pthread_atfork(nullptr, nullptr, OnForkChild) == 0; }();
  (void)registered;
}

// Slice hands out the next n bytes of this thread's buffer, refilling it
// from the DRBG when it runs short or after a fork. Slices start on 16-byte
// boundaries so a vector load of one never touches a neighbour's bytes.
uint8_t* Slice(size_t n) {
  RegisterAtFork();
  thread_local Buffer buf;
  const size_t step = (n + 15) & ~size_t{15};
  const uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (buf.generation != gen || kBufLen - buf.pos < step) {
    if (RAND_bytes(buf.bytes, static_cast<int>(kBufLen)) != 1) {
      backend::ClearErrors();
      buf.pos = kBufLen;
      return nullptr;
    }
    buf.pos = 0;
    buf.generation = gen;
  }
  uint8_t* p = buf.bytes + buf.pos;
  buf.pos += step;
  return p;
}

}  // namespace

Status FillNonce(uint8_t* out, size_t n) {
  if (n > 64) return KH_E_INVALID_ARGUMENT;
  uint8_t* p = Slice(n);
  if (p == nullptr) return KH_E_INTERNAL;
  std::memcpy(out, p, n);
  // Bytes handed out are erased so they cannot be handed out twice.
  std::memset(p, 0, n);
  return OkStatus();
}

Status NonceLease::Take(size_t n) {
  if (n > 64 || p_ != nullptr) return KH_E_INVALID_ARGUMENT;
  p_ = Slice(n);
  if (p_ == nullptr) return KH_E_INTERNAL;
  n_ = n;
  return OkStatus();
}

NonceLease::~NonceLease() {
  if (p_ != nullptr) std::memset(p_, 0, n_);
}

}  // namespace keyhold::rand
