// Shared plumbing of the intel-ipsec-mb backends (ipsec_mb_gcm.cc,
// ipsec_mb_chacha.cc); only compiled where the library is built in
// (KEYHOLD_HAVE_IPSEC_MB). See ipsec_mb.cc for the library's process-wide
// state and how this code lives with it.
#pragma once

#include <intel-ipsec-mb.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "aead/aead.h"
#include "core/status.h"

namespace keyhold::aead::ipsecmb {

// Manager returns the calling thread's manager, of the one architecture the
// process probed, creating it on first use (~0.1-0.3 ms, ~200 KB).
// KH_E_UNSUPPORTED if the library cannot run here.
Status Manager(IMB_MGR** out);

// Check reads the library's error report after a direct-API call. Every
// parameter the library checks was validated first, so any report is
// unexpected -- ours (a bug) or another thread's (the report is process-
// wide) -- and fails the operation closed with KH_E_INTERNAL.
Status Check(IMB_MGR* mgr);

// JoinedAad presents aad1 || aad2 as one buffer: the library takes one AAD
// pointer at init. No copy when either part is empty (raw keysets pass an
// empty aad1); on the stack up to kStackAad bytes (managed keysets add a
// 6-byte header to the caller's AAD), on the heap above.
class JoinedAad {
 public:
  static constexpr size_t kStackAad = 256;
  JoinedAad(ByteView a1, ByteView a2);
  JoinedAad(const JoinedAad&) = delete;
  JoinedAad& operator=(const JoinedAad&) = delete;

  Status status() const { return status_; }
  ByteView view() const { return view_; }

 private:
  uint8_t stack_[kStackAad];
  std::unique_ptr<uint8_t[]> heap_;
  ByteView view_;
  Status status_;
};

// OnePassAead is the Aead contract both backends share around one library
// pass (Crypt): argument checks before anything is written, the output
// wiped on any failure, the tag compared in constant time, and decrypted
// plaintext left in the caller's buffer only once the tag verifies.
class OnePassAead : public Aead {
 public:
  explicit OnePassAead(uint64_t max_plaintext) : max_plaintext_(max_plaintext) {}
  Status Seal(ByteView nonce, ByteView aad1, ByteView aad2, ByteView pt, uint8_t* out) const final;
  Status Open(ByteView nonce, ByteView aad1, ByteView aad2, ByteView ct_tag, uint8_t* out) const final;

 protected:
  // Crypt runs one pass over in into out (same length; out may equal
  // in.data()) with the joined AAD and writes the kTagLen-byte tag. The
  // nonce length is already checked.
  virtual Status Crypt(IMB_MGR* mgr, bool enc, ByteView nonce, ByteView aad, ByteView in, uint8_t* out,
                       uint8_t* tag) const = 0;

 private:
  Status Run(bool enc, ByteView nonce, ByteView aad1, ByteView aad2, ByteView in, uint8_t* out,
             uint8_t* tag) const;
  uint64_t max_plaintext_;
};

}  // namespace keyhold::aead::ipsecmb
