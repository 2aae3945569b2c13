// HandleTable: opaque 64-bit handles for ABI objects (DESIGN.md section 2).
//
// A handle is (generation << 32) | (slot + 1). The slot holds a shared_ptr
// to the object, and the object records its own handle, so a lookup with a
// closed, stale (older generation), forged or zero handle finds nothing. A
// lookup copies the shared_ptr under the slot's own spinlock (held for one
// reference-count increment): an object closed while another thread uses it
// lives until that call returns. Slots live in fixed chunks that never move,
// so lookups never take the table's mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace keyhold::abi {

enum class Kind : uint8_t { kEngine = 1, kKeyset = 2, kKek = 3, kStream = 4 };

struct Object {
  explicit Object(Kind k) : kind(k) {}
  virtual ~Object() = default;
  const Kind kind;
  uint64_t handle = 0;  // set once by Insert
  uint64_t owner = 0;   // the owning engine's handle; 0 for engines
};

struct EngineObject final : Object {
  EngineObject() : Object(Kind::kEngine) {}
  std::atomic<uint64_t> children{0};
  bool closed = false;  // guarded by the table's mutex
  uint64_t aead_usage_limit = 0;
  uint64_t use_reservation = 0;  // 0: keyset::Keyset::kDefaultReservation
  // The configuration the engine opened with (src/config/); set before
  // Insert, immutable after.
  std::shared_ptr<const config::Config> config;
};

class HandleTable {
 public:
  static constexpr uint32_t kChunkSlots = 4096;
  static constexpr uint32_t kMaxChunks = 256;  // ~1M live handles

  static HandleTable& Global();

  // Insert stores obj and sets obj->handle. With an owner engine the insert
  // fails with KH_E_ENGINE_CLOSED once that engine is closing.
  Status Insert(std::shared_ptr<Object> obj, EngineObject* owner);
  std::shared_ptr<Object> Lookup(uint64_t handle) const;
  // Remove takes the object out of the table and returns it (the caller's
  // reference ends its life, unless a call still uses it).
  std::shared_ptr<Object> Remove(uint64_t handle);
  // RemoveEngine closes an engine and every handle it owns.
  std::vector<std::shared_ptr<Object>> RemoveEngine(uint64_t engine_handle);
  // Owned returns the live objects owned by an engine (metrics).
  std::vector<std::shared_ptr<Object>> Owned(uint64_t engine_handle) const;

 private:
  struct Slot {
    // SpinGuard holds the slot's lock; critical sections copy or swap one
    // shared_ptr, so waiting is short and never blocks in the kernel.
    class SpinGuard {
     public:
      explicit SpinGuard(std::atomic_flag& f) : f_(f) {
        while (f_.test_and_set(std::memory_order_acquire)) f_.wait(true, std::memory_order_relaxed);
      }
      ~SpinGuard() {
        f_.clear(std::memory_order_release);
        f_.notify_one();
      }
      SpinGuard(const SpinGuard&) = delete;
      SpinGuard& operator=(const SpinGuard&) = delete;

     private:
      std::atomic_flag& f_;
    };
    mutable std::atomic_flag lock = ATOMIC_FLAG_INIT;
    std::shared_ptr<Object> obj;  // guarded by lock
    uint32_t generation = 0;      // guarded by the table's mu_
  };
  Slot* SlotAt(uint32_t index) const;
  std::shared_ptr<Object> RemoveLocked(uint64_t handle);

  std::array<std::atomic<Slot*>, kMaxChunks> chunks_{};
  std::atomic<uint32_t> used_{0};  // slots ever handed out
  std::mutex mu_;
  std::vector<uint32_t> free_;
};

}  // namespace keyhold::abi
