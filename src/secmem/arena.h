// Guarded memory for key material (DESIGN.md section 4).
//
// Secrets live in arenas: each arena is one mapping laid out as
//   [guard page][data pages][guard page]
// with the guard pages PROT_NONE (an overrun faults instead of reading a
// neighbour), the data pages mlock()ed (never swapped; if RLIMIT_MEMLOCK is
// too small the arena still works, unlocked, and the failure is counted) and
// MADV_DONTDUMP (never in a core file). Allocations are carved from the data
// pages in 32-byte blocks, so thousands of keys share a few pages instead of
// one page each. Freed blocks are zeroized before reuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace keyhold::secmem {

struct ArenaStats {
  uint64_t bytes_used = 0;      // bytes handed out (rounded to blocks)
  uint64_t bytes_total = 0;     // data bytes mapped across arenas
  uint64_t bytes_locked = 0;    // of those, locked
  uint64_t mlock_failures = 0;  // arenas that could not be locked
};

// Allocate returns zeroed guarded memory of n bytes (1..kMaxAllocation), or
// nullptr when the arena limit is reached. Thread-safe.
inline constexpr size_t kMaxAllocation = 4096;
uint8_t* Allocate(size_t n);
// Free zeroizes and releases memory from Allocate. nullptr is fine.
void Free(uint8_t* p, size_t n);
ArenaStats Stats();

// SecretBytes owns a guarded buffer of secret bytes. It cannot be copied
// implicitly or printed; moving transfers ownership; destruction zeroizes.
class SecretBytes {
 public:
  SecretBytes() = default;
  // Create allocates n zero bytes; check ok() (false when out of memory).
  static SecretBytes Create(size_t n) {
    SecretBytes s;
    s.data_ = Allocate(n);
    s.size_ = s.data_ ? n : 0;
    return s;
  }
  static SecretBytes CopyOf(std::span<const uint8_t> src) {
    SecretBytes s = Create(src.size());
    if (s.ok()) {
      for (size_t i = 0; i < src.size(); ++i) s.data_[i] = src[i];
    }
    return s;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      Free(data_, size_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~SecretBytes() { Free(data_, size_); }

  bool ok() const { return data_ != nullptr; }
  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }
  uint8_t* data() { return data_; }
  std::span<const uint8_t> view() const { return {data_, size_}; }
  // Wipe zeroizes and releases the buffer now.
  void Wipe() {
    Free(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace keyhold::secmem
