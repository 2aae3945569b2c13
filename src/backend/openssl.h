// OpenSSL 3 plumbing shared by the primitives: owned pointer types,
// algorithms fetched once per process (BASELINES.md: a legacy lookup on each
// init costs ~250 ns), and a small pool of reusable per-key contexts.
#pragma once

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <thread>

namespace keyhold::backend {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxFree>;

// Algorithms fetched once from the default provider. nullptr members mean
// the provider lacks the algorithm (the self-test then fails).
struct Algorithms {
  EVP_CIPHER* aes256_gcm;
  EVP_CIPHER* chacha20_poly1305;
  EVP_CIPHER* aes128_siv;
  EVP_CIPHER* aes192_siv;
  EVP_CIPHER* aes256_siv;
  EVP_MAC* hmac;
  EVP_MAC* cmac;
  EVP_KDF* hkdf;
  EVP_MD* sha256;
  EVP_MD* sha512;
};
const Algorithms& Fetched();

// ClearErrors empties this thread's OpenSSL error queue; every failure path
// that touched OpenSSL calls it so no state leaks across the boundary.
void ClearErrors();

// CtxPool keeps up to kSlots reusable contexts for one key. Acquire tries
// the slot picked by the calling thread first, then the others; when all
// are busy it builds a temporary context (correct, just slower). A context
// is created on first use by the key's factory, already keyed.
template <typename Ctx, typename Deleter>
class CtxPool {
 public:
  static constexpr size_t kSlots = 8;
  using Ptr = std::unique_ptr<Ctx, Deleter>;

  class Lease {
   public:
    Lease(CtxPool* pool, size_t slot, Ctx* ctx, Ptr temp)
        : pool_(pool), slot_(slot), ctx_(ctx), temp_(std::move(temp)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (pool_ != nullptr && slot_ < kSlots) pool_->slots_[slot_].busy.clear(std::memory_order_release);
    }
    Ctx* get() const { return ctx_; }
    explicit operator bool() const { return ctx_ != nullptr; }

   private:
    CtxPool* pool_;
    size_t slot_;
    Ctx* ctx_;
    Ptr temp_;
  };

  explicit CtxPool(std::function<Ptr()> factory) : factory_(std::move(factory)) {}

  // Adopt wraps a one-off context (owned by the lease) in the same shape.
  static Lease Adopt(Ptr temp) {
    Ctx* raw = temp.get();
    return Lease(nullptr, kSlots, raw, std::move(temp));
  }

  Lease Acquire() {
    const size_t start = std::hash<std::thread::id>{}(std::this_thread::get_id()) % kSlots;
    for (size_t i = 0; i < kSlots; ++i) {
      const size_t k = (start + i) % kSlots;
      Slot& s = slots_[k];
      if (!s.busy.test_and_set(std::memory_order_acquire)) {
        if (!s.ctx) s.ctx = factory_();
        if (!s.ctx) {
          s.busy.clear(std::memory_order_release);
          return Lease(nullptr, kSlots, nullptr, nullptr);
        }
        return Lease(this, k, s.ctx.get(), nullptr);
      }
    }
    Ptr temp = factory_();
    Ctx* raw = temp.get();
    return Lease(nullptr, kSlots, raw, std::move(temp));
  }

 private:
  struct Slot {
    std::atomic_flag busy = ATOMIC_FLAG_INIT;
    Ptr ctx;
  };
  std::function<Ptr()> factory_;
  std::array<Slot, kSlots> slots_;
};

}  // namespace keyhold::backend
