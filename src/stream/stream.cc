#include "stream/stream.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>

#include "backend/openssl.h"
#include "kdf/kdf.h"
#include "secmem/arena.h"

namespace keyhold::stream {
namespace {

// docs/spec/stream.md section 3: the HKDF info label.
constexpr char kInfoLabel[] = "keyhold stream v1";
constexpr size_t kInfoLabelLen = sizeof(kInfoLabel) - 1;
// The header fields bound by the info: version, alg, key id, segment size.
constexpr size_t kBoundHeaderLen = 10;
constexpr size_t kSaltOffset = 10;
constexpr size_t kPrefixOffset = kSaltOffset + kSaltLen;
constexpr size_t kKeyLen = 32;

void StoreBe32(uint32_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

bool SegmentSizeOk(uint32_t s) { return s >= kMinSegment && s <= kMaxSegment; }

// DeriveAead: section 3. The stream key is HKDF-SHA256 of the keyset key
// with the header's salt and info = label || header[0..10) || SHA-256(aad);
// AES-256-GCM keysets seal segments with AES-256-GCM, ChaCha20-Poly1305
// and XChaCha20-Poly1305 keysets with ChaCha20-Poly1305.
StatusOr<std::unique_ptr<aead::Aead>> DeriveAead(kh_alg alg, ByteView material, ByteView header,
                                                 ByteView aad) {
  std::array<uint8_t, kInfoLabelLen + kBoundHeaderLen + 32> info{};
  std::memcpy(info.data(), kInfoLabel, kInfoLabelLen);
  std::memcpy(info.data() + kInfoLabelLen, header.data(), kBoundHeaderLen);
  unsigned int digest_len = 0;
  uint8_t empty = 0;
  if (EVP_Digest(aad.empty() ? &empty : aad.data(), aad.size(), info.data() + kInfoLabelLen + kBoundHeaderLen,
                 &digest_len, backend::Fetched().sha256, nullptr) != 1 ||
      digest_len != 32) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  auto hkdf = kdf::NewHkdf(KH_ALG_HKDF_SHA256, material);
  if (!hkdf.ok()) return hkdf.status();
  secmem::SecretBytes key = secmem::SecretBytes::Create(kKeyLen);
  if (!key.ok()) return Status(KH_E_OUT_OF_MEMORY);
  KH_RETURN_IF_ERROR(
      (*hkdf)->Derive(header.subspan(kSaltOffset, kSaltLen), info, MutableBytes(key.data(), key.size())));
  // The primitive keeps its own (expanded) copy; key is wiped on return.
  return alg == KH_ALG_AES256_GCM ? aead::NewAes256Gcm(key.view()) : aead::NewChaCha20Poly1305(key.view());
}

bool Overlaps(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) {
  if (an == 0 || bn == 0) return false;
  const auto x = reinterpret_cast<uintptr_t>(a);
  const auto y = reinterpret_cast<uintptr_t>(b);
  return x < y + bn && y < x + an;
}

}  // namespace

StatusOr<std::unique_ptr<Stream>> Stream::NewEncrypter(keyset::Keyset& ks, ByteView aad,
                                                       uint32_t segment_size, ByteView fixed_salt,
                                                       ByteView fixed_prefix) {
  if (ks.alg_info().family != keyset::Family::kAead) return Status(KH_E_WRONG_PRIMITIVE);
  if (segment_size == 0) segment_size = kDefaultSegment;
  if (!SegmentSizeOk(segment_size)) return Status(KH_E_INVALID_ARGUMENT);
  if ((!fixed_salt.empty() && fixed_salt.size() != kSaltLen) ||
      (!fixed_prefix.empty() && fixed_prefix.size() != kPrefixLen)) {
    return Status(KH_E_INVALID_ARGUMENT);
  }
  std::unique_ptr<Stream> s(new Stream());
  s->encrypting_ = true;
  s->segment_size_ = segment_size;
  s->alg_ = ks.alg_info().alg;
  uint8_t* h = s->header_.data();
  h[0] = kVersion;
  h[1] = static_cast<uint8_t>(s->alg_);
  StoreBe32(segment_size, h + 6);
  if (fixed_salt.empty() || fixed_prefix.empty()) {
    if (RAND_bytes(h + kSaltOffset, static_cast<int>(kSaltLen + kPrefixLen)) != 1) {
      backend::ClearErrors();
      return Status(KH_E_INTERNAL);
    }
  }
  if (!fixed_salt.empty()) std::memcpy(h + kSaltOffset, fixed_salt.data(), kSaltLen);
  if (!fixed_prefix.empty()) std::memcpy(h + kPrefixOffset, fixed_prefix.data(), kPrefixLen);
  KH_RETURN_IF_ERROR(ks.StreamEncryptKey([&](uint32_t key_id, ByteView material) -> Status {
    s->key_id_ = key_id;
    StoreBe32(key_id, h + 2);
    auto a = DeriveAead(s->alg_, material, s->header(), aad);
    if (!a.ok()) return a.status();
    s->aead_ = std::move(a).value();
    return OkStatus();
  }));
  return s;
}

StatusOr<std::unique_ptr<Stream>> Stream::NewDecrypter(const keyset::Keyset& ks, ByteView header,
                                                       ByteView aad) {
  if (ks.alg_info().family != keyset::Family::kAead) return Status(KH_E_WRONG_PRIMITIVE);
  if (header.size() != kHeaderLen) return Status(KH_E_MALFORMED);
  if (header[0] != kVersion) return Status(KH_E_UNSUPPORTED);
  if (header[1] != static_cast<uint8_t>(ks.alg_info().alg)) return Status(KH_E_MALFORMED);
  const uint32_t segment_size = LoadBe32(header.data() + 6);
  if (!SegmentSizeOk(segment_size)) return Status(KH_E_MALFORMED);
  std::unique_ptr<Stream> s(new Stream());
  s->encrypting_ = false;
  s->segment_size_ = segment_size;
  s->alg_ = ks.alg_info().alg;
  s->key_id_ = LoadBe32(header.data() + 2);
  std::memcpy(s->header_.data(), header.data(), kHeaderLen);
  KH_RETURN_IF_ERROR(ks.StreamDecryptKey(s->key_id_, [&](uint32_t, ByteView material) -> Status {
    auto a = DeriveAead(s->alg_, material, s->header(), aad);
    if (!a.ok()) return a.status();
    s->aead_ = std::move(a).value();
    return OkStatus();
  }));
  s->next_.store(kSealed);
  return s;
}

void Stream::Nonce(uint64_t index, bool last, uint8_t nonce[12]) const {
  std::memcpy(nonce, header_.data() + kPrefixOffset, kPrefixLen);
  StoreBe32(static_cast<uint32_t>(index), nonce + kPrefixLen);
  nonce[11] = last ? 1 : 0;
}

Status Stream::SealPlan(uint64_t first, bool last, size_t pt_len, Plan* plan) const {
  if (pt_len > KH_MAX_INPUT_LEN) return KH_E_TOO_LARGE;
  const uint64_t s = segment_size_;
  uint64_t count = 0;
  if (last) {
    count = pt_len == 0 ? 1 : (pt_len + s - 1) / s;
    // Only an empty stream ends with an empty segment (section 4).
    if (pt_len == 0 && first != 0) return KH_E_INVALID_ARGUMENT;
  } else {
    if (pt_len == 0 || pt_len % s != 0) return KH_E_INVALID_ARGUMENT;
    count = pt_len / s;
  }
  if (first >= kMaxSegments || count > kMaxSegments - first) return KH_E_TOO_LARGE;
  plan->count = count;
  plan->out_len = pt_len + count * kTagLen;
  return OkStatus();
}

Status Stream::OpenPlan(uint64_t first, bool last, size_t ct_len, Plan* plan) const {
  if (ct_len > KH_MAX_INPUT_LEN + KH_MAX_INPUT_LEN / kMinSegment * kTagLen) return KH_E_TOO_LARGE;
  const uint64_t c = uint64_t{segment_size_} + kTagLen;
  uint64_t count = 0;
  if (last) {
    count = ct_len == 0 ? 1 : (ct_len + c - 1) / c;
  } else {
    if (ct_len == 0 || ct_len % c != 0) return KH_E_INVALID_ARGUMENT;
    count = ct_len / c;
  }
  if (first >= kMaxSegments || count > kMaxSegments - first) return KH_E_TOO_LARGE;
  if (last) {
    // The last segment is shorter than a tag, or empty in a stream that
    // has other segments: a truncated (or extended) stream, which only an
    // attacker or a broken transport makes. Section 6.
    const uint64_t final_len = ct_len - (count - 1) * c;
    if (final_len < kTagLen || (final_len == kTagLen && first + count > 1)) return KH_E_AUTH_FAILED;
  }
  plan->count = count;
  plan->out_len = ct_len - count * kTagLen;
  return OkStatus();
}

Status Stream::Seal(uint64_t first, bool last, ByteView pt, const Plan& plan, uint8_t* out) {
  if (!encrypting_) return KH_E_INVALID_ARGUMENT;
  if (Overlaps(out, plan.out_len, pt.data(), pt.size())) return KH_E_INVALID_ARGUMENT;
  // Claim the indices first: a second call for the same index (a retry, a
  // race, a bug) is refused instead of reusing a nonce.
  uint64_t expected = first;
  const uint64_t next = last ? kSealed : first + plan.count;
  if (!next_.compare_exchange_strong(expected, next, std::memory_order_acq_rel)) return KH_E_INVALID_ARGUMENT;
  const size_t s = segment_size_;
  for (uint64_t i = 0; i < plan.count; ++i) {
    const size_t off = static_cast<size_t>(i) * s;
    const size_t n = std::min(s, pt.size() - std::min(pt.size(), off));
    uint8_t nonce[12];
    Nonce(first + i, last && i + 1 == plan.count, nonce);
    Status st = aead_->Seal(ByteView(nonce, sizeof(nonce)), {}, {}, pt.subspan(off, n),
                            out + static_cast<size_t>(i) * (s + kTagLen));
    if (!st.ok()) {
      // The stream is unusable from here: its next index is lost.
      next_.store(kSealed, std::memory_order_release);
      OPENSSL_cleanse(out, plan.out_len);
      return st;
    }
  }
  return OkStatus();
}

Status Stream::Open(uint64_t first, bool last, ByteView ct, const Plan& plan, uint8_t* out) const {
  if (encrypting_) return KH_E_INVALID_ARGUMENT;
  if (Overlaps(out, plan.out_len, ct.data(), ct.size())) return KH_E_INVALID_ARGUMENT;
  const size_t c = size_t{segment_size_} + kTagLen;
  for (uint64_t i = 0; i < plan.count; ++i) {
    const size_t off = static_cast<size_t>(i) * c;
    const size_t n = std::min(c, ct.size() - off);
    uint8_t nonce[12];
    Nonce(first + i, last && i + 1 == plan.count, nonce);
    Status st = aead_->Open(ByteView(nonce, sizeof(nonce)), {}, {}, ct.subspan(off, n),
                            out + static_cast<size_t>(i) * segment_size_);
    if (!st.ok()) {
      // Earlier segments of this call authenticated, but the call's output
      // is all or nothing.
      OPENSSL_cleanse(out, plan.out_len);
      return st;
    }
  }
  return OkStatus();
}

}  // namespace keyhold::stream
