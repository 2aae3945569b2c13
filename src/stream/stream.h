// Streaming AEAD (docs/spec/stream.md): a header, then segments, each
// sealed under a key derived for this stream alone with a nonce that names
// the segment's position and whether it is the last one.
//
// A Stream is created for one direction. An encrypting stream seals
// segments strictly in order (the explicit index in each call must be the
// next one), so no segment nonce can ever be used twice; a decrypting
// stream opens any segment, in any order, any number of times (random
// access). Both are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <memory>

#include "aead/aead.h"
#include "core/status.h"
#include "keyset/keyset.h"

namespace keyhold::stream {

// docs/spec/stream.md section 2.
inline constexpr uint8_t kVersion = 0x81;
inline constexpr size_t kSaltLen = 32;
inline constexpr size_t kPrefixLen = 7;
inline constexpr size_t kHeaderLen = 1 + 1 + 4 + 4 + kSaltLen + kPrefixLen;  // 49
inline constexpr size_t kTagLen = aead::kTagLen;
inline constexpr uint32_t kMinSegment = 64;
inline constexpr uint32_t kMaxSegment = uint32_t{1} << 24;
inline constexpr uint32_t kDefaultSegment = uint32_t{1} << 16;
// kMaxSegments: the segment counter is 32 bits (section 4).
inline constexpr uint64_t kMaxSegments = uint64_t{1} << 32;

// Plan: how a seal or open call splits its input into segments.
struct Plan {
  uint64_t count = 0;  // segments
  size_t out_len = 0;  // bytes the call writes
};

class Stream {
 public:
  // NewEncrypter derives a new stream key from the keyset's primary key and
  // writes nothing: the header is header(). segment_size 0 means
  // kDefaultSegment. salt and prefix are fresh random bytes unless given
  // (fixed values exist only for the golden-vector tests; reusing them
  // repeats the key stream).
  static StatusOr<std::unique_ptr<Stream>> NewEncrypter(keyset::Keyset& ks, ByteView aad,
                                                        uint32_t segment_size, ByteView fixed_salt = {},
                                                        ByteView fixed_prefix = {});
  // NewDecrypter parses a header (exactly kHeaderLen bytes) and derives the
  // stream key. Checks in the order of docs/spec/stream.md section 6.
  static StatusOr<std::unique_ptr<Stream>> NewDecrypter(const keyset::Keyset& ks, ByteView header,
                                                        ByteView aad);

  ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  ByteView header() const { return {header_.data(), header_.size()}; }
  bool encrypting() const { return encrypting_; }
  uint32_t segment_size() const { return segment_size_; }
  kh_alg alg() const { return alg_; }
  uint32_t key_id() const { return key_id_; }

  // SealPlan / OpenPlan validate a call's shape (section 5) without
  // touching any key.
  Status SealPlan(uint64_t first, bool last, size_t pt_len, Plan* plan) const;
  Status OpenPlan(uint64_t first, bool last, size_t ct_len, Plan* plan) const;

  // Seal encrypts pt as segments first, first+1, ... (the last of them
  // flagged last if last) into out (plan.out_len bytes, not overlapping
  // pt). first must be the next index of this stream.
  Status Seal(uint64_t first, bool last, ByteView pt, const Plan& plan, uint8_t* out);
  // Open authenticates and decrypts ct as segments first, first+1, ...
  // into out (plan.out_len bytes, not overlapping ct). On failure every
  // byte of out is zero and KH_E_AUTH_FAILED is returned.
  Status Open(uint64_t first, bool last, ByteView ct, const Plan& plan, uint8_t* out) const;

 private:
  Stream() = default;
  void Nonce(uint64_t index, bool last, uint8_t nonce[12]) const;

  std::array<uint8_t, kHeaderLen> header_{};
  bool encrypting_ = false;
  uint32_t segment_size_ = 0;
  kh_alg alg_ = KH_ALG_AES256_GCM;
  uint32_t key_id_ = 0;
  std::unique_ptr<aead::Aead> aead_;
  // next_: the index the next Seal must start at; kSealed once the last
  // segment was sealed (or a seal failed half way).
  static constexpr uint64_t kSealed = ~uint64_t{0};
  std::atomic<uint64_t> next_{0};
};

}  // namespace keyhold::stream
