#include "keystore/format.h"

#include <openssl/rand.h>

#include <algorithm>

#include "backend/openssl.h"
#include "keystore/gcm.h"

namespace keyhold::keystore {
namespace {

constexpr uint8_t kMagic[4] = {'K', 'H', 'K', 'S'};
constexpr size_t kSecretsOverhead = kGcmNonceLen + kGcmTagLen;

// Reader: bounds-checked big-endian reads over a byte string.
class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  size_t pos() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }
  bool U8(uint8_t* v) {
    if (left() < 1) return false;
    *v = b_[pos_++];
    return true;
  }
  template <typename T>
  bool Be(T* v) {
    if (left() < sizeof(T)) return false;
    T x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) x = static_cast<T>((x << 8) | b_[pos_ + i]);
    pos_ += sizeof(T);
    *v = x;
    return true;
  }
  bool Take(size_t n, ByteView* v) {
    if (left() < n) return false;
    *v = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  ByteView b_;
  size_t pos_ = 0;
};

template <typename T>
void PutBe(std::vector<uint8_t>* out, T v) {
  for (size_t i = sizeof(T); i-- > 0;) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

size_t MaterialLen(const keyset::AlgInfo& info, kh_key_status status) {
  return status == KH_KEY_DESTROYED ? 0 : info.sizes.key_len;
}

// ParseMeta: checks 5-13 of section 6 on the metadata bytes.
Status ParseMeta(ByteView meta_bytes, Meta* meta) {
  Reader r(meta_bytes);
  ByteView id;
  uint32_t alg = 0, flags = 0;
  uint8_t kek_kind = 0;
  uint16_t count = 0;
  if (!r.Take(meta->id.size(), &id) || !r.Be(&alg) || !r.Be(&flags) || !r.U8(&kek_kind) ||
      !r.Be(&meta->primary_id) || !r.Be(&count)) {
    return KH_E_MALFORMED;
  }
  std::copy(id.begin(), id.end(), meta->id.begin());
  const keyset::AlgInfo* info = keyset::FindAlg(alg);
  if (info == nullptr) return KH_E_UNSUPPORTED;                                           // 5
  if ((flags & ~uint32_t{KH_KEYSET_EXPORTABLE}) != 0) return KH_E_UNSUPPORTED;            // 6
  if (kek_kind < KH_KEK_FILE || kek_kind > KH_KEK_PKCS11) return KH_E_MALFORMED;          // 7
  if (count == 0 || count > kMaxStoredKeys) return KH_E_MALFORMED;                        // 8
  if (meta_bytes.size() != kMetaFixedLen + kKeyRecordLen * count) return KH_E_MALFORMED;  // 9
  meta->alg = info->alg;
  meta->flags = flags;
  meta->kek_kind = static_cast<kh_kek_kind>(kek_kind);
  meta->keys.clear();
  meta->keys.reserve(count);
  bool primary_ok = false;
  for (uint16_t i = 0; i < count; ++i) {
    KeyMeta k;
    uint8_t status = 0;
    if (!r.Be(&k.id) || !r.U8(&status) || !r.Be(&k.material_len) || !r.Be(&k.created) || !r.Be(&k.uses)) {
      return KH_E_MALFORMED;
    }
    if (k.id == 0) return KH_E_MALFORMED;  // 10
    for (const KeyMeta& seen : meta->keys) {
      if (seen.id == k.id) return KH_E_MALFORMED;
    }
    if (status < KH_KEY_ENABLED || status > KH_KEY_DESTROYED) return KH_E_MALFORMED;  // 11
    k.status = static_cast<kh_key_status>(status);
    if (k.material_len != MaterialLen(*info, k.status)) return KH_E_MALFORMED;  // 12
    if (k.id == meta->primary_id) primary_ok = k.status == KH_KEY_ENABLED;
    meta->keys.push_back(k);
  }
  if (!primary_ok) return KH_E_MALFORMED;  // 13
  return OkStatus();
}

}  // namespace

Status Parse(ByteView file, Parsed* out) {
  Reader r(file);
  ByteView magic;
  uint8_t version = 0;
  uint32_t meta_len = 0;
  if (!r.Take(sizeof(kMagic), &magic) || !r.U8(&version) || !r.Be(&meta_len)) return KH_E_MALFORMED;  // 1
  if (!std::equal(magic.begin(), magic.end(), kMagic)) return KH_E_MALFORMED;                         // 2
  if (version != kFormatVersion) return KH_E_UNSUPPORTED;                                             // 3
  ByteView meta_bytes;
  if (meta_len < kMetaFixedLen || !r.Take(meta_len, &meta_bytes)) return KH_E_MALFORMED;  // 4
  out->meta.version = version;
  KH_RETURN_IF_ERROR(ParseMeta(meta_bytes, &out->meta));  // 5-13
  out->aad = file.first(kHeaderLen + meta_len);
  uint16_t wrap_len = 0;
  ByteView wrap;
  if (!r.Be(&wrap_len) || wrap_len == 0 || !r.Take(wrap_len, &wrap)) return KH_E_MALFORMED;  // 14
  uint32_t secrets_len = 0;
  if (!r.Be(&secrets_len) || !r.Take(secrets_len, &out->secrets) || r.left() != 0) {
    return KH_E_MALFORMED;  // 15
  }
  out->wrap_method = wrap[0];
  if (out->wrap_method != static_cast<uint8_t>(WrapMethod::kEngineAesGcm) &&
      out->wrap_method != static_cast<uint8_t>(WrapMethod::kTokenAesGcm)) {
    return KH_E_UNSUPPORTED;  // 16
  }
  if (wrap.size() != kWrapLen) return KH_E_MALFORMED;
  out->wrap_body = wrap.subspan(1);
  size_t material = 0;
  for (const KeyMeta& k : out->meta.keys) material += k.material_len;
  if (out->secrets.size() != kSecretsOverhead + material) return KH_E_MALFORMED;  // 17
  return OkStatus();
}

size_t EncodedSize(const keyset::Keyset::Snapshot& s) {
  size_t material = 0;
  for (const auto& k : s.keys) material += k.material.size();
  return kHeaderLen + kMetaFixedLen + kKeyRecordLen * s.keys.size() + 2 + kWrapLen + 4 + kSecretsOverhead +
         material;
}

StatusOr<std::vector<uint8_t>> Encode(const keyset::Keyset::Snapshot& s, Kek& kek) {
  const keyset::AlgInfo* info = keyset::FindAlg(s.alg);
  if (info == nullptr || s.keys.empty() || s.keys.size() > kMaxStoredKeys) return Status(KH_E_INTERNAL);
  std::vector<uint8_t> out;
  out.reserve(EncodedSize(s));
  out.insert(out.end(), std::begin(kMagic), std::end(kMagic));
  out.push_back(kFormatVersion);
  PutBe<uint32_t>(&out, static_cast<uint32_t>(kMetaFixedLen + kKeyRecordLen * s.keys.size()));
  out.insert(out.end(), s.id.begin(), s.id.end());
  PutBe<uint32_t>(&out, s.alg);
  PutBe<uint32_t>(&out, s.flags);
  out.push_back(static_cast<uint8_t>(kek.kind()));
  PutBe<uint32_t>(&out, s.primary_id);
  PutBe<uint16_t>(&out, static_cast<uint16_t>(s.keys.size()));
  size_t material = 0;
  for (const auto& k : s.keys) {
    if (k.material.size() != MaterialLen(*info, k.status)) return Status(KH_E_INTERNAL);
    material += k.material.size();
    PutBe<uint32_t>(&out, k.id);
    out.push_back(static_cast<uint8_t>(k.status));
    PutBe<uint16_t>(&out, static_cast<uint16_t>(k.material.size()));
    PutBe<uint64_t>(&out, k.created);
    PutBe<uint64_t>(&out, k.uses);
  }
  const size_t aad_len = out.size();

  // A fresh data key per write (section 5): the KEK only ever wraps random
  // 32-byte keys, never keyset bytes.
  auto dk = secmem::SecretBytes::Create(kDataKeyLen);
  if (!dk.ok()) return Status(KH_E_OUT_OF_MEMORY);
  uint8_t nonce[kGcmNonceLen];
  if (RAND_bytes(dk.data(), static_cast<int>(dk.size())) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }

  PutBe<uint16_t>(&out, static_cast<uint16_t>(kWrapLen));
  out.push_back(static_cast<uint8_t>(kek.method()));
  const size_t wrap_at = out.size();
  out.resize(out.size() + kWrapBodyLen);
  PutBe<uint32_t>(&out, static_cast<uint32_t>(kSecretsOverhead + material));
  const size_t secrets_at = out.size();
  out.resize(out.size() + kSecretsOverhead + material);

  const ByteView aad(out.data(), aad_len);
  KH_RETURN_IF_ERROR(kek.Wrap(dk.view(), aad, MutableBytes(out.data() + wrap_at, kWrapBodyLen)));
  std::copy(nonce, nonce + sizeof(nonce), out.begin() + static_cast<std::ptrdiff_t>(secrets_at));
  auto gcm = Gcm::Seal(dk.view(), ByteView(nonce, sizeof(nonce)), aad);
  if (!gcm.ok()) return gcm.status();
  size_t at = secrets_at + kGcmNonceLen;
  for (const auto& k : s.keys) {
    KH_RETURN_IF_ERROR(gcm->Update(k.material.view(), out.data() + at));
    at += k.material.size();
  }
  KH_RETURN_IF_ERROR(gcm->FinishSeal(out.data() + at));
  return out;
}

StatusOr<keyset::Keyset::Snapshot> Decrypt(const Parsed& p, Kek& kek) {
  if (p.wrap_method != static_cast<uint8_t>(kek.method())) return Status(KH_E_AUTH_FAILED);  // 18
  secmem::SecretBytes dk;
  KH_RETURN_IF_ERROR(kek.Unwrap(p.wrap_body, p.aad, &dk));  // 19
  auto gcm = Gcm::Open(dk.view(), p.secrets.first(kGcmNonceLen), p.aad);
  if (!gcm.ok()) return gcm.status();
  keyset::Keyset::Snapshot s;
  s.alg = p.meta.alg;
  s.flags = p.meta.flags;
  s.id = p.meta.id;
  s.primary_id = p.meta.primary_id;
  s.keys.reserve(p.meta.keys.size());
  size_t at = kGcmNonceLen;
  for (const KeyMeta& m : p.meta.keys) {
    keyset::Keyset::SnapshotKey k;
    k.id = m.id;
    k.status = m.status;
    k.created = m.created;
    k.uses = m.uses;
    if (m.material_len > 0) {
      k.material = secmem::SecretBytes::Create(m.material_len);
      if (!k.material.ok()) return Status(KH_E_OUT_OF_MEMORY);
      // Unauthenticated until FinishOpen; on failure every buffer is wiped
      // as s goes out of scope.
      KH_RETURN_IF_ERROR(gcm->Update(p.secrets.subspan(at, m.material_len), k.material.data()));
      at += m.material_len;
    }
    s.keys.push_back(std::move(k));
  }
  KH_RETURN_IF_ERROR(gcm->FinishOpen(p.secrets.subspan(at)));  // 20
  return s;
}

}  // namespace keyhold::keystore
