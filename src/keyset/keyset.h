// Keyset: keys of one algorithm, each with a 32-bit id and a status, one of
// them primary. Encrypt/sign/MAC use the primary; decrypt/verify find the
// key by the id in the input's header (docs/spec/formats.md). A raw keyset
// (KH_KEYSET_RAW) holds one key and reads and writes the bare algorithm
// encodings, for interoperability.
//
// Thread-safety: operations take a shared lock for their whole duration;
// lifecycle changes take it exclusively, so a key is never destroyed under a
// running operation.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "keyset/registry.h"

namespace keyhold::keyset {

// Out is a caller output buffer: (ptr, capacity, &length).
struct Out {
  uint8_t* ptr;
  size_t cap;
  size_t* len;
};

class Keyset {
 public:
  // usage_limit: cap on random-nonce encryptions per key (0 = the
  // algorithm's default).
  static StatusOr<std::unique_ptr<Keyset>> Generate(kh_alg alg, uint32_t flags, uint64_t usage_limit);
  static StatusOr<std::unique_ptr<Keyset>> ImportRaw(kh_alg alg, ByteView key);
  static StatusOr<std::unique_ptr<Keyset>> ImportPublic(kh_alg alg, ByteView pub);

  // RestoredKey: one key of a keyset being rebuilt from storage.
  struct RestoredKey {
    uint32_t id;
    kh_key_status status;
    ByteView material;  // empty for destroyed keys
    uint64_t uses;
  };
  // Restore rebuilds a managed keyset from its keys (the keystore and the
  // golden-vector tests use it). Ids must be non-zero and unique; the
  // primary must be enabled.
  static StatusOr<std::unique_ptr<Keyset>> Restore(kh_alg alg, uint32_t flags,
                                                   std::span<const RestoredKey> keys, uint32_t primary_id,
                                                   uint64_t usage_limit);

  const AlgInfo& alg_info() const { return *info_; }
  bool raw() const { return (flags_ & KH_KEYSET_RAW) != 0; }

  // Lifecycle.
  Status Rotate(uint32_t* new_key_id);
  Status SetPrimary(uint32_t key_id);
  Status Disable(uint32_t key_id);
  Status Enable(uint32_t key_id);
  Status DestroyKey(uint32_t key_id);
  void Info(kh_keyset_info* out) const;
  Status KeyInfo(uint32_t index, kh_key_info* out) const;
  Status PublicKey(uint32_t key_id, uint32_t format, Out out) const;

  // Operations.
  Status AeadEncrypt(ByteView pt, ByteView aad, Out out);
  Status AeadDecrypt(ByteView ct, ByteView aad, Out out) const;
  Status AeadSealNonce(ByteView nonce, ByteView pt, ByteView aad, Out out);
  Status AeadOpenNonce(ByteView nonce, ByteView ct, ByteView aad, Out out) const;
  Status DaeadEncrypt(ByteView pt, ByteView aad, Out out);
  Status DaeadDecrypt(ByteView ct, ByteView aad, Out out) const;
  Status MacCompute(ByteView msg, Out out);
  Status MacVerify(ByteView msg, ByteView tag) const;
  Status SigSign(ByteView msg, Out out);
  Status SigVerify(ByteView msg, ByteView sig) const;
  Status SigSignPlain(ByteView msg, Out out);
  Status SigSignDigest(ByteView digest, Out out);
  Status SigVerifyPlain(uint32_t key_id, ByteView msg, ByteView sig) const;
  Status KexAgree(ByteView peer, Out out) const;
  Status KdfDerive(ByteView salt, ByteView info, MutableBytes out) const;

 private:
  struct Key {
    uint32_t id = 0;
    kh_key_status status = KH_KEY_ENABLED;
    secmem::SecretBytes material;  // empty for public-only and destroyed keys
    Primitive prim;
    std::atomic<uint64_t> uses{0};
  };

  Keyset(const AlgInfo* info, uint32_t flags, uint64_t usage_limit)
      : info_(info), flags_(flags), usage_limit_(usage_limit) {}
  Status AddKey(secmem::SecretBytes material, Primitive prim, uint32_t* id);  // caller holds mu_ exclusively
  Key* FindLocked(uint32_t id) const;
  // Usable returns the key for an id from an input header, or a status.
  Status Usable(uint32_t id, const Key** key) const;
  Status CheckFamily(Family f) const;
  // CountUse applies the usage limit of random-nonce encryptions.
  Status CountUse(Key* k, bool limited);

  const AlgInfo* info_;
  uint32_t flags_;
  uint64_t usage_limit_;
  mutable std::shared_mutex mu_;
  std::vector<std::unique_ptr<Key>> keys_;
  Key* primary_ = nullptr;
};

}  // namespace keyhold::keyset
