// Nonce randomness for AEAD encryption.
//
// OpenSSL 3.0's RAND_bytes costs ~700 ns per call on the project's machines
// (measured: bench BM_Keyhold_Encrypt before this existed), more than the
// whole AES-GCM encryption of a 64-byte message. Nonces are public, so each
// thread draws 4 KiB from RAND_bytes at a time and hands out slices. Fork
// safety: a pthread_atfork child handler bumps a generation so a child never
// reuses bytes its parent already handed out. Key material never comes from
// here -- keys use RAND_bytes directly.
#pragma once

#include "core/status.h"

namespace keyhold::rand {

// FillNonce writes n (<= 64) fresh random bytes.
Status FillNonce(uint8_t* out, size_t n);

// NonceLease lends n fresh random bytes in place, inside this thread's
// buffer, and erases them when it ends. Reading a nonce from memory written
// long ago matters: intel-ipsec-mb's IV load stalls on store forwarding
// when the IV was stored just before the call (BASELINES.md; ~30 ns at
// 64 B), so the cipher reads the lent bytes and the caller copies them to
// its output separately. Valid until the lease ends; one lease per thread
// at a time.
class NonceLease {
 public:
  NonceLease() = default;
  NonceLease(const NonceLease&) = delete;
  NonceLease& operator=(const NonceLease&) = delete;
  ~NonceLease();
  // Take lends n (<= 64) bytes; KH_E_INTERNAL if the DRBG fails.
  Status Take(size_t n);
  ByteView view() const { return {p_, n_}; }

 private:
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace keyhold::rand
