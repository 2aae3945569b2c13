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
  uint8_t bytes[kBufLen];
  size_t pos = kBufLen;  // empty
  uint64_t generation = 0;
  ~Buffer() { OPENSSL_cleanse(bytes, sizeof(bytes)); }
};

void RegisterAtFork() {
  static const bool registered = [] { return pthread_atfork(nullptr, nullptr, OnForkChild) == 0; }();
  (void)registered;
}

}  // namespace

Status FillNonce(uint8_t* out, size_t n) {
  if (n > 64) return KH_E_INVALID_ARGUMENT;
  RegisterAtFork();
  thread_local Buffer buf;
  const uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (buf.generation != gen || kBufLen - buf.pos < n) {
    if (RAND_bytes(buf.bytes, static_cast<int>(kBufLen)) != 1) {
      backend::ClearErrors();
      buf.pos = kBufLen;
      return KH_E_INTERNAL;
    }
    buf.pos = 0;
    buf.generation = gen;
  }
  std::memcpy(out, buf.bytes + buf.pos, n);
  // Bytes handed out are erased so they cannot be handed out twice.
  std::memset(buf.bytes + buf.pos, 0, n);
  buf.pos += n;
  return OkStatus();
}

}  // namespace keyhold::rand
