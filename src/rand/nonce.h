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

}  // namespace keyhold::rand
