// The keyset file format, version 1 (docs/spec/keyset.md): encoding a
// keyset snapshot under a KEK, parsing the public part, and authenticating
// and decrypting the secret part. Keyset files and wrapped exports are the
// same bytes.
#pragma once

#include <vector>

#include "core/status.h"
#include "keyset/keyset.h"
#include "keystore/kek.h"

namespace keyhold::keystore {

inline constexpr uint8_t kFormatVersion = 1;
inline constexpr size_t kHeaderLen = 9;      // magic (4), version (1), meta_len (4)
inline constexpr size_t kMetaFixedLen = 31;  // section 3, before the key records
inline constexpr size_t kKeyRecordLen = 23;  // section 3.1
inline constexpr size_t kMaxStoredKeys = 1024;
inline constexpr size_t kWrapLen = 1 + kWrapBodyLen;  // method, body

// KeyMeta, Meta: the public metadata (section 3).
struct KeyMeta {
  uint32_t id = 0;
  kh_key_status status = KH_KEY_ENABLED;
  uint16_t material_len = 0;
  uint64_t created = 0;
  uint64_t uses = 0;
};
struct Meta {
  uint32_t version = kFormatVersion;
  keyset::Keyset::KeysetId id{};
  kh_alg alg = KH_ALG_AES256_GCM;
  uint32_t flags = 0;
  kh_kek_kind kek_kind = KH_KEK_FILE;
  uint32_t primary_id = 0;
  std::vector<KeyMeta> keys;
};

// Parsed: a file whose structure is valid (decoder checks 1-17 of section
// 6). The views point into the parsed bytes.
struct Parsed {
  Meta meta;
  ByteView aad;  // header || meta: the associated data of both ciphertexts
  uint8_t wrap_method = 0;
  ByteView wrap_body;
  ByteView secrets;  // nonce || ciphertext || tag
};

// Parse checks everything that can be checked without the KEK.
Status Parse(ByteView file, Parsed* out);

// EncodedSize is the length Encode will produce for s.
size_t EncodedSize(const keyset::Keyset::Snapshot& s);

// Encode serializes s under a fresh data key wrapped by kek.
StatusOr<std::vector<uint8_t>> Encode(const keyset::Keyset::Snapshot& s, Kek& kek);

// Decrypt authenticates a parsed file with kek and returns its keys (in
// guarded memory). Wrong KEK or altered bytes: KH_E_AUTH_FAILED.
StatusOr<keyset::Keyset::Snapshot> Decrypt(const Parsed& p, Kek& kek);

}  // namespace keyhold::keystore
