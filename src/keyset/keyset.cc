#include "keyset/keyset.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <mutex>

#include "backend/openssl.h"
#include "rand/nonce.h"
#include "wire/header.h"

namespace keyhold::keyset {
namespace {

constexpr size_t kMaxKeys = 1024;

// ClearLen: *out_len is 0 on every failure (keyhold.h conventions).
void ClearLen(Out out) {
  if (out.len != nullptr) *out.len = 0;
}

bool TooLarge(ByteView b) { return b.size() > KH_MAX_INPUT_LEN; }

// CheckOut validates an output buffer for need bytes (API-CONVENTIONS in
// keyhold.h: too small leaves it untouched and reports the size needed).
Status CheckOut(Out out, size_t need) {
  if (out.len == nullptr) return KH_E_NULL_POINTER;
  *out.len = 0;
  if (out.cap < need) {
    *out.len = need;
    return KH_E_BUFFER_TOO_SMALL;
  }
  if (out.ptr == nullptr && need > 0) return KH_E_NULL_POINTER;
  return OkStatus();
}

bool Overlaps(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) {
  if (an == 0 || bn == 0) return false;
  const auto x = reinterpret_cast<uintptr_t>(a);
  const auto y = reinterpret_cast<uintptr_t>(b);
  return x < y + bn && y < x + an;
}

// BadAlias: the output may overlap an input only when the output's body
// (plaintext or ciphertext part) starts exactly where the input's does:
// that is in-place operation. Any other overlap, or an output overlapping
// the associated data, is rejected.
bool BadAlias(const uint8_t* out, size_t out_n, const uint8_t* out_body, ByteView in, const uint8_t* in_body,
              ByteView aad) {
  if (Overlaps(out, out_n, aad.data(), aad.size())) return true;
  return Overlaps(out, out_n, in.data(), in.size()) && out_body != in_body;
}

uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t Now() {
  const std::time_t t = std::time(nullptr);
  return t < 0 ? 0 : static_cast<uint64_t>(t);
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > ~uint64_t{0} - b ? ~uint64_t{0} : a + b; }

// kMaxReservations bounds how often one operation reserves before giving
// up. Each retry asks for twice the previous reservation, so an operation
// whose new counts other threads keep using up soon gets more than they can
// use before it retries; the bound is never reached in practice.
constexpr int kMaxReservations = 16;

}  // namespace

StatusOr<std::unique_ptr<Keyset>> Keyset::Generate(kh_alg alg, uint32_t flags, uint64_t usage_limit,
                                                   uint64_t reservation) {
  const AlgInfo* info = FindAlg(alg);
  if (info == nullptr) return Status(KH_E_UNSUPPORTED);
  if ((flags & ~(KH_KEYSET_RAW | KH_KEYSET_EXPORTABLE)) != 0) return Status(KH_E_INVALID_ARGUMENT);
  if (usage_limit == 0 || (info->default_usage_limit != 0 && usage_limit > info->default_usage_limit)) {
    usage_limit = info->default_usage_limit;
  }
  auto key = GenerateKey(*info);
  if (!key.ok()) return key.status();
  auto prim = MakePrimitive(*info, key->view());
  if (!prim.ok()) return prim.status();
  std::unique_ptr<Keyset> ks(new Keyset(info, flags, usage_limit, reservation));
  if (RAND_bytes(ks->id_.data(), static_cast<int>(ks->id_.size())) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  uint32_t id = 0;
  KH_RETURN_IF_ERROR(ks->AddKey(std::move(key).value(), std::move(prim).value(), &id));
  return ks;
}

StatusOr<std::unique_ptr<Keyset>> Keyset::ImportRaw(kh_alg alg, ByteView key) {
  const AlgInfo* info = FindAlg(alg);
  if (info == nullptr) return Status(KH_E_UNSUPPORTED);
  auto prim = MakePrimitive(*info, key);
  if (!prim.ok()) return prim.status();
  auto material = secmem::SecretBytes::CopyOf(key);
  if (!material.ok()) return Status(KH_E_OUT_OF_MEMORY);
  std::unique_ptr<Keyset> ks(new Keyset(info, KH_KEYSET_RAW, info->default_usage_limit, 0));
  uint32_t id = 0;
  KH_RETURN_IF_ERROR(ks->AddKey(std::move(material), std::move(prim).value(), &id));
  return ks;
}

StatusOr<std::unique_ptr<Keyset>> Keyset::ImportPublic(kh_alg alg, ByteView pub) {
  const AlgInfo* info = FindAlg(alg);
  if (info == nullptr) return Status(KH_E_UNSUPPORTED);
  auto prim = MakePublicPrimitive(*info, pub);
  if (!prim.ok()) return prim.status();
  std::unique_ptr<Keyset> ks(new Keyset(info, KH_KEYSET_RAW, 0, 0));
  uint32_t id = 0;
  KH_RETURN_IF_ERROR(ks->AddKey(secmem::SecretBytes(), std::move(prim).value(), &id));
  return ks;
}

StatusOr<std::unique_ptr<Keyset>> Keyset::Restore(kh_alg alg, uint32_t flags,
                                                  std::span<const RestoredKey> keys, uint32_t primary_id,
                                                  uint64_t usage_limit, const KeysetId* id,
                                                  uint64_t reservation) {
  const AlgInfo* info = FindAlg(alg);
  if (info == nullptr) return Status(KH_E_UNSUPPORTED);
  if ((flags & ~(KH_KEYSET_RAW | KH_KEYSET_EXPORTABLE)) != 0) return Status(KH_E_INVALID_ARGUMENT);
  if (keys.empty() || keys.size() > kMaxKeys) return Status(KH_E_INVALID_ARGUMENT);
  if ((flags & KH_KEYSET_RAW) != 0 && keys.size() != 1) return Status(KH_E_INVALID_ARGUMENT);
  if (usage_limit == 0 || (info->default_usage_limit != 0 && usage_limit > info->default_usage_limit)) {
    usage_limit = info->default_usage_limit;
  }
  std::unique_ptr<Keyset> ks(new Keyset(info, flags, usage_limit, reservation));
  if (id != nullptr) {
    ks->id_ = *id;
  } else if (RAND_bytes(ks->id_.data(), static_cast<int>(ks->id_.size())) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  for (const RestoredKey& r : keys) {
    if (r.id == 0 || ks->FindLocked(r.id) != nullptr) return Status(KH_E_INVALID_ARGUMENT);
    auto k = std::make_unique<Key>();
    k->id = r.id;
    k->status = r.status;
    k->created = r.created;
    k->uses.store(r.uses, std::memory_order_relaxed);
    if (r.status == KH_KEY_DESTROYED) {
      if (!r.material.empty()) return Status(KH_E_INVALID_ARGUMENT);
    } else if (r.status == KH_KEY_ENABLED || r.status == KH_KEY_DISABLED) {
      auto prim = MakePrimitive(*info, r.material);
      if (!prim.ok()) return prim.status();
      k->material = secmem::SecretBytes::CopyOf(r.material);
      if (!k->material.ok()) return Status(KH_E_OUT_OF_MEMORY);
      k->prim = std::move(prim).value();
    } else {
      return Status(KH_E_INVALID_ARGUMENT);
    }
    if (r.id == primary_id) {
      if (r.status != KH_KEY_ENABLED) return Status(KH_E_INVALID_ARGUMENT);
      ks->primary_ = k.get();
    }
    ks->keys_.push_back(std::move(k));
  }
  if (ks->primary_ == nullptr) return Status(KH_E_INVALID_ARGUMENT);
  return ks;
}

Status Keyset::AddKey(secmem::SecretBytes material, Primitive prim, uint32_t* id) {
  if (keys_.size() >= kMaxKeys) return KH_E_TOO_LARGE;
  uint32_t candidate = 0;
  do {
    uint8_t b[4];
    if (RAND_bytes(b, sizeof(b)) != 1) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    candidate = LoadBe32(b);
  } while (candidate == 0 || FindLocked(candidate) != nullptr);
  auto k = std::make_unique<Key>();
  k->id = candidate;
  k->created = Now();
  k->material = std::move(material);
  k->prim = std::move(prim);
  // A stored keyset writes a new key to its home before the key's first
  // use, so no output can exist for a key that a crash would lose.
  k->ceiling.store(has_home_.load(std::memory_order_acquire) ? 0 : kNoCeiling, std::memory_order_release);
  primary_ = k.get();
  keys_.push_back(std::move(k));
  *id = candidate;
  return OkStatus();
}

Keyset::Key* Keyset::FindLocked(uint32_t id) const {
  for (const auto& k : keys_) {
    if (k->id == id) return k.get();
  }
  return nullptr;
}

Status Keyset::Usable(uint32_t id, const Key** key) const {
  const Key* k = FindLocked(id);
  if (k == nullptr) return KH_E_UNKNOWN_KEY;
  if (k->status == KH_KEY_DISABLED) return KH_E_KEY_DISABLED;
  if (k->status == KH_KEY_DESTROYED) return KH_E_KEY_DESTROYED;
  *key = k;
  return OkStatus();
}

Status Keyset::CheckFamily(Family f) const {
  return info_->family == f ? OkStatus() : Status(KH_E_WRONG_PRIMITIVE);
}

Status Keyset::CountUse(Key* k, bool limited, Use* use) {
  *use = Use::kCounted;
  const uint64_t before = k->uses.fetch_add(1, std::memory_order_relaxed);
  if (limited && usage_limit_ != 0 && before >= usage_limit_) {
    k->uses.fetch_sub(1, std::memory_order_relaxed);
    return KH_E_LIMIT_EXCEEDED;
  }
  const uint64_t ceiling = k->ceiling.load(std::memory_order_acquire);
  if (ceiling == kNoCeiling) return OkStatus();
  if (before >= ceiling) {
    // The home file does not cover this use yet: write first, then retry.
    k->uses.fetch_sub(1, std::memory_order_relaxed);
    *use = Use::kReserveFirst;
    return KH_E_LIMIT_EXCEEDED;
  }
  // Exactly one use crosses the half-way mark of a reservation (fetch_add
  // hands out each value once): that caller renews it, so steady use never
  // waits for a write.
  if (this->limited() && ceiling - before - 1 == reservation_ / 2) *use = Use::kRenew;
  return OkStatus();
}

template <typename Op>
Status Keyset::Counting(Op&& op) {
  Use use = Use::kCounted;
  Status s = op(&use);
  if (use == Use::kCounted) return s;
  if (use == Use::kRenew) {
    (void)Renew();  // a failure is caught when the ceiling is reached
    return s;
  }
  // The home file does not cover the next use: reserve, then retry while
  // still holding store_mu_, so that no explicit save can lower the
  // ceiling again between the reservation and the use.
  std::lock_guard store_lock(store_mu_);
  for (int attempt = 0; attempt < kMaxReservations; ++attempt) {
    KH_RETURN_IF_ERROR(ReserveLocked(attempt));
    use = Use::kCounted;
    s = op(&use);
    if (use != Use::kReserveFirst) return s;  // kRenew: the reservation was just written
  }
  return KH_E_LIMIT_EXCEEDED;
}

// ------------------------------------------------------------- storage

Status Keyset::Renew() {
  // Skipped if a write is under way or the keyset has no home: the ceiling
  // still stops any use the file does not cover.
  std::unique_lock store_lock(store_mu_, std::try_to_lock);
  if (!store_lock.owns_lock() || home_ == nullptr) return OkStatus();
  auto snapshot = TakeSnapshot(Counts::kReserve);
  if (!snapshot.ok()) return snapshot.status();
  KH_RETURN_IF_ERROR(home_->Write(*snapshot));
  Persisted(*snapshot, Counts::kReserve);
  return OkStatus();
}

Status Keyset::ReserveLocked(int attempt) {
  if (home_ == nullptr) {
    // No home: a first save failed after lowering the ceilings. Nothing
    // stored can fall behind, so the keyset is unbounded again.
    std::shared_lock lock(mu_);
    for (const auto& k : keys_) k->ceiling.store(kNoCeiling, std::memory_order_release);
    return OkStatus();
  }
  {
    // Another thread may have written a reservation while this one waited.
    std::shared_lock lock(mu_);
    const Key* k = primary_;
    if (k->uses.load(std::memory_order_relaxed) < k->ceiling.load(std::memory_order_acquire)) {
      return OkStatus();
    }
  }
  auto snapshot = TakeSnapshot(Counts::kReserve, attempt);
  if (!snapshot.ok()) return snapshot.status();
  KH_RETURN_IF_ERROR(home_->Write(*snapshot));
  Persisted(*snapshot, Counts::kReserve);
  return OkStatus();
}

StatusOr<Keyset::Snapshot> Keyset::TakeSnapshot(Counts counts, int attempt) const {
  // An exact snapshot excludes every operation (each holds mu_ shared
  // while it counts), so the counts it reads are final.
  std::unique_lock exclusive(mu_, std::defer_lock);
  std::shared_lock shared(mu_, std::defer_lock);
  if (counts == Counts::kExact) {
    exclusive.lock();
  } else {
    shared.lock();
  }
  Snapshot out;
  out.alg = info_->alg;
  out.flags = flags_;
  out.id = id_;
  out.primary_id = primary_->id;
  out.keys.reserve(keys_.size());
  for (const auto& k : keys_) {
    SnapshotKey sk;
    sk.id = k->id;
    sk.status = k->status;
    sk.created = k->created;
    const uint64_t uses = k->uses.load(std::memory_order_relaxed);
    sk.uses = uses;
    if (limited() && counts == Counts::kReserve) {
      const uint64_t ceiling = k->ceiling.load(std::memory_order_acquire);
      const uint64_t reservation =
          attempt >= 32 || reservation_ > (kNoCeiling >> attempt) ? kNoCeiling : reservation_ << attempt;
      sk.uses = SaturatingAdd(uses, reservation);
      if (ceiling != kNoCeiling) sk.uses = std::max(sk.uses, ceiling);
    }
    if (limited() && counts == Counts::kExact) {
      // Lowered now, before the write: an operation after this snapshot
      // must not use a count the new file does not cover. It waits for a
      // reservation instead (store_mu_ is held by the writer).
      k->ceiling.store(uses, std::memory_order_release);
    }
    if (!k->material.view().empty()) {
      sk.material = secmem::SecretBytes::CopyOf(k->material.view());
      if (!sk.material.ok()) return Status(KH_E_OUT_OF_MEMORY);
    }
    out.keys.push_back(std::move(sk));
  }
  return out;
}

void Keyset::Persisted(const Snapshot& snapshot, Counts counts) {
  std::shared_lock lock(mu_);
  for (const auto& k : keys_) {
    const SnapshotKey* written = nullptr;
    for (const SnapshotKey& sk : snapshot.keys) {
      if (sk.id == k->id) written = &sk;
    }
    if (written == nullptr) {
      // Added after the snapshot: not in the file yet.
      k->ceiling.store(0, std::memory_order_release);
    } else if (!limited()) {
      k->ceiling.store(kNoCeiling, std::memory_order_release);
    } else if (counts == Counts::kReserve) {
      uint64_t cur = k->ceiling.load(std::memory_order_acquire);
      while ((cur == kNoCeiling || cur < written->uses) &&
             !k->ceiling.compare_exchange_weak(cur, written->uses, std::memory_order_acq_rel)) {
      }
    }
    // Counts::kExact: the ceiling was set to the written count by the
    // snapshot, and only a later reservation may raise it.
  }
}

Status Keyset::Save(const std::shared_ptr<Store>& store) {
  if (raw()) return KH_E_UNSUPPORTED;
  std::lock_guard store_lock(store_mu_);
  if (kek_bound_ && kek_id_ != store->kek_id() && !exportable()) return KH_E_NOT_EXPORTABLE;
  auto snapshot = TakeSnapshot(Counts::kExact);
  if (!snapshot.ok()) return snapshot.status();
  KH_RETURN_IF_ERROR(store->Write(*snapshot));
  home_ = store;
  kek_id_ = store->kek_id();
  kek_bound_ = true;
  has_home_.store(true, std::memory_order_release);
  Persisted(*snapshot, Counts::kExact);
  return OkStatus();
}

StatusOr<Keyset::Snapshot> Keyset::Export() const {
  if (raw()) return Status(KH_E_UNSUPPORTED);
  if (!exportable()) return Status(KH_E_NOT_EXPORTABLE);
  return TakeSnapshot(Counts::kExport);
}

bool Keyset::SaveIsExport(const KekId& kek) {
  std::lock_guard<std::mutex> lock(store_mu_);
  return kek_bound_ && kek_id_ != kek;
}

void Keyset::Bind(const KekId& kek, std::shared_ptr<Store> home) {
  std::lock_guard store_lock(store_mu_);
  kek_id_ = kek;
  kek_bound_ = true;
  if (home == nullptr) return;
  home_ = std::move(home);
  has_home_.store(true, std::memory_order_release);
  // The file's counts are the ceilings: they may already have been used
  // by the process that wrote it, so the next use reserves first.
  std::shared_lock lock(mu_);
  for (const auto& k : keys_) {
    k->ceiling.store(limited() ? k->uses.load(std::memory_order_relaxed) : kNoCeiling,
                     std::memory_order_release);
  }
}

// ------------------------------------------------------------ lifecycle

Status Keyset::Rotate(uint32_t* new_key_id) {
  if (raw()) return KH_E_UNSUPPORTED;
  auto key = GenerateKey(*info_);
  if (!key.ok()) return key.status();
  auto prim = MakePrimitive(*info_, key->view());
  if (!prim.ok()) return prim.status();
  std::unique_lock lock(mu_);
  return AddKey(std::move(key).value(), std::move(prim).value(), new_key_id);
}

Status Keyset::SetPrimary(uint32_t key_id) {
  std::unique_lock lock(mu_);
  Key* k = FindLocked(key_id);
  if (k == nullptr) return KH_E_UNKNOWN_KEY;
  if (k->status == KH_KEY_DISABLED) return KH_E_KEY_DISABLED;
  if (k->status == KH_KEY_DESTROYED) return KH_E_KEY_DESTROYED;
  primary_ = k;
  return OkStatus();
}

Status Keyset::Disable(uint32_t key_id) {
  std::unique_lock lock(mu_);
  Key* k = FindLocked(key_id);
  if (k == nullptr) return KH_E_UNKNOWN_KEY;
  if (k == primary_) return KH_E_INVALID_ARGUMENT;
  if (k->status == KH_KEY_DESTROYED) return KH_E_KEY_DESTROYED;
  k->status = KH_KEY_DISABLED;
  return OkStatus();
}

Status Keyset::Enable(uint32_t key_id) {
  std::unique_lock lock(mu_);
  Key* k = FindLocked(key_id);
  if (k == nullptr) return KH_E_UNKNOWN_KEY;
  if (k->status == KH_KEY_DESTROYED) return KH_E_KEY_DESTROYED;
  k->status = KH_KEY_ENABLED;
  return OkStatus();
}

Status Keyset::DestroyKey(uint32_t key_id) {
  std::unique_lock lock(mu_);
  Key* k = FindLocked(key_id);
  if (k == nullptr) return KH_E_UNKNOWN_KEY;
  if (k == primary_) return KH_E_INVALID_ARGUMENT;
  k->status = KH_KEY_DESTROYED;
  k->material.Wipe();
  k->prim = Primitive();  // backend key schedules are cleansed on free
  return OkStatus();
}

void Keyset::Info(kh_keyset_info* out) const {
  std::shared_lock lock(mu_);
  out->alg = info_->alg;
  out->flags = flags_;
  out->primary_key_id = primary_ ? primary_->id : 0;
  out->key_count = static_cast<uint32_t>(keys_.size());
}

Status Keyset::KeyInfo(uint32_t index, kh_key_info* out) const {
  std::shared_lock lock(mu_);
  if (index >= keys_.size()) return KH_E_INVALID_ARGUMENT;
  const Key& k = *keys_[index];
  *out = kh_key_info{k.id, static_cast<uint32_t>(k.status), &k == primary_ ? 1u : 0u, 0,
                     k.uses.load(std::memory_order_relaxed)};
  return OkStatus();
}

Status Keyset::PublicKey(uint32_t key_id, uint32_t format, Out out) const {
  ClearLen(out);
  if (info_->family != Family::kSig && info_->family != Family::kKex) return KH_E_WRONG_PRIMITIVE;
  if (format != KH_PUBKEY_RAW && format != KH_PUBKEY_DER) return KH_E_INVALID_ARGUMENT;
  std::vector<uint8_t> pub;
  {
    std::shared_lock lock(mu_);
    const Key* k = key_id == 0 ? primary_ : FindLocked(key_id);
    if (k == nullptr) return KH_E_UNKNOWN_KEY;
    if (k->status == KH_KEY_DESTROYED) return KH_E_KEY_DESTROYED;
    if (k->prim.sig) {
      KH_RETURN_IF_ERROR(k->prim.sig->PublicKey(format, &pub));
    } else {
      if (format != KH_PUBKEY_RAW) return KH_E_UNSUPPORTED;
      pub.resize(32);
      k->prim.kex->PublicKey(pub.data());
    }
  }
  KH_RETURN_IF_ERROR(CheckOut(out, pub.size()));
  std::copy(pub.begin(), pub.end(), out.ptr);
  *out.len = pub.size();
  return OkStatus();
}

// ----------------------------------------------------------------- AEAD

// Out is passed by value like every operation's (three words); the counting
// wrappers below only forward it to the attempt.
// cppcheck-suppress passedByValue
Status Keyset::AeadEncrypt(ByteView pt, ByteView aad, Out out) {
  return Counting([&](Use* use) { return AeadEncryptOnce(pt, aad, out, use); });
}

Status Keyset::AeadEncryptOnce(ByteView pt, ByteView aad, Out out, Use* use) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kAead));
  if (TooLarge(pt) || TooLarge(aad)) return KH_E_TOO_LARGE;
  const size_t prefix = raw() ? 0 : wire::kHeaderLen;
  const size_t nonce_len = info_->sizes.nonce_len;
  const size_t need = prefix + nonce_len + pt.size() + aead::kTagLen;
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  uint8_t* body = out.ptr + prefix + nonce_len;
  if (BadAlias(out.ptr, need, body, pt, pt.data(), aad)) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  Key* k = primary_;
  KH_RETURN_IF_ERROR(CountUse(k, true, use));
  if (!raw()) wire::EncodeHeader(info_->alg, k->id, out.ptr);
  rand::NonceLease nonce;
  if (Status s = nonce.Take(nonce_len); !s.ok()) {
    OPENSSL_cleanse(out.ptr, prefix);
    return s;
  }
  std::memcpy(out.ptr + prefix, nonce.view().data(), nonce_len);
  // The cipher reads the nonce from the lease, not from out (rand/nonce.h).
  Status s = k->prim.aead->Seal(nonce.view(), ByteView(out.ptr, prefix), aad, pt, body);
  if (!s.ok()) {
    OPENSSL_cleanse(out.ptr, prefix + nonce_len);
    return s;
  }
  *out.len = need;
  return OkStatus();
}

Status Keyset::AeadDecrypt(ByteView ct, ByteView aad, Out out) const {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kAead));
  if (TooLarge(ct) || TooLarge(aad)) return KH_E_TOO_LARGE;
  if (out.len == nullptr) return KH_E_NULL_POINTER;
  const size_t prefix = raw() ? 0 : wire::kHeaderLen;
  const size_t nonce_len = info_->sizes.nonce_len;
  uint32_t key_id = 0;
  if (!raw()) KH_RETURN_IF_ERROR(wire::ParseHeader(ct, info_->alg, &key_id));
  if (ct.size() < prefix + nonce_len + aead::kTagLen) return KH_E_MALFORMED;
  const size_t need = ct.size() - prefix - nonce_len - aead::kTagLen;
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  const uint8_t* body = ct.data() + prefix + nonce_len;
  if (BadAlias(out.ptr, need, out.ptr, ct, body, aad)) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  const Key* k = primary_;
  if (!raw()) KH_RETURN_IF_ERROR(Usable(key_id, &k));
  KH_RETURN_IF_ERROR(k->prim.aead->Open(ct.subspan(prefix, nonce_len), ct.first(prefix), aad,
                                        ct.subspan(prefix + nonce_len), out.ptr));
  *out.len = need;
  return OkStatus();
}

Status Keyset::AeadSealNonce(ByteView nonce, ByteView pt, ByteView aad, Out out) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kAead));
  if (!raw()) return KH_E_WRONG_PRIMITIVE;
  if (TooLarge(pt) || TooLarge(aad)) return KH_E_TOO_LARGE;
  const size_t need = pt.size() + aead::kTagLen;
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  if (BadAlias(out.ptr, need, out.ptr, pt, pt.data(), aad)) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  if (!primary_->prim.aead->NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
  // Raw keysets are never stored, so they have no ceiling to reserve.
  Use use = Use::kCounted;
  KH_RETURN_IF_ERROR(CountUse(primary_, false, &use));
  KH_RETURN_IF_ERROR(primary_->prim.aead->Seal(nonce, {}, aad, pt, out.ptr));
  *out.len = need;
  return OkStatus();
}

Status Keyset::AeadOpenNonce(ByteView nonce, ByteView ct, ByteView aad, Out out) const {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kAead));
  if (!raw()) return KH_E_WRONG_PRIMITIVE;
  if (TooLarge(ct) || TooLarge(aad)) return KH_E_TOO_LARGE;
  if (out.len == nullptr) return KH_E_NULL_POINTER;
  if (ct.size() < aead::kTagLen) return KH_E_AUTH_FAILED;
  const size_t need = ct.size() - aead::kTagLen;
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  if (BadAlias(out.ptr, need, out.ptr, ct, ct.data(), aad)) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  if (!primary_->prim.aead->NonceLenOk(nonce.size())) return KH_E_INVALID_ARGUMENT;
  KH_RETURN_IF_ERROR(primary_->prim.aead->Open(nonce, {}, aad, ct, out.ptr));
  *out.len = need;
  return OkStatus();
}

// -------------------------------------------------------------- streams

Status Keyset::StreamEncryptKey(const StreamKeyFn& fn) {
  return Counting([&](Use* use) { return StreamEncryptKeyOnce(fn, use); });
}

Status Keyset::StreamEncryptKeyOnce(const StreamKeyFn& fn, Use* use) {
  KH_RETURN_IF_ERROR(CheckFamily(Family::kAead));
  std::shared_lock lock(mu_);
  Key* k = primary_;
  // One stream is one message under the usage limit. Its segments use a
  // key derived for the stream alone, so the random-nonce bound the limit
  // comes from does not bind them; a lowered limit
  // (KEYHOLD_AEAD_MAX_MESSAGES) is a rotation policy, and it holds for
  // streams as for one-shot encryptions.
  KH_RETURN_IF_ERROR(CountUse(k, true, use));
  return fn(raw() ? 0 : k->id, k->material.view());
}

Status Keyset::StreamDecryptKey(uint32_t key_id, const StreamKeyFn& fn) const {
  KH_RETURN_IF_ERROR(CheckFamily(Family::kAead));
  std::shared_lock lock(mu_);
  const Key* k = primary_;
  if (raw()) {
    if (key_id != 0) return KH_E_UNKNOWN_KEY;
  } else {
    KH_RETURN_IF_ERROR(Usable(key_id, &k));
  }
  return fn(key_id, k->material.view());
}

// ---------------------------------------------------- deterministic AEAD

// cppcheck-suppress passedByValue
Status Keyset::DaeadEncrypt(ByteView pt, ByteView aad, Out out) {
  return Counting([&](Use* use) { return DaeadEncryptOnce(pt, aad, out, use); });
}

Status Keyset::DaeadEncryptOnce(ByteView pt, ByteView aad, Out out, Use* use) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kDaead));
  if (TooLarge(pt) || TooLarge(aad)) return KH_E_TOO_LARGE;
  const size_t prefix = raw() ? 0 : wire::kHeaderLen;
  const size_t need = prefix + daead::kSivLen + pt.size();
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  uint8_t* body = out.ptr + prefix + daead::kSivLen;
  if (BadAlias(out.ptr, need, body, pt, pt.data(), aad)) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  Key* k = primary_;
  KH_RETURN_IF_ERROR(CountUse(k, false, use));
  Status s;
  if (raw()) {
    s = k->prim.daead->Encrypt({aad}, pt, out.ptr);
  } else {
    wire::EncodeHeader(info_->alg, k->id, out.ptr);
    s = k->prim.daead->Encrypt({ByteView(out.ptr, prefix), aad}, pt, out.ptr + prefix);
  }
  if (!s.ok()) {
    OPENSSL_cleanse(out.ptr, prefix + daead::kSivLen);
    return s;
  }
  *out.len = need;
  return OkStatus();
}

Status Keyset::DaeadDecrypt(ByteView ct, ByteView aad, Out out) const {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kDaead));
  if (TooLarge(ct) || TooLarge(aad)) return KH_E_TOO_LARGE;
  if (out.len == nullptr) return KH_E_NULL_POINTER;
  const size_t prefix = raw() ? 0 : wire::kHeaderLen;
  uint32_t key_id = 0;
  if (!raw()) KH_RETURN_IF_ERROR(wire::ParseHeader(ct, info_->alg, &key_id));
  if (ct.size() < prefix + daead::kSivLen) return KH_E_MALFORMED;
  const size_t need = ct.size() - prefix - daead::kSivLen;
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  if (BadAlias(out.ptr, need, out.ptr, ct, ct.data() + prefix + daead::kSivLen, aad)) {
    return KH_E_INVALID_ARGUMENT;
  }
  std::shared_lock lock(mu_);
  const Key* k = primary_;
  if (!raw()) KH_RETURN_IF_ERROR(Usable(key_id, &k));
  if (raw()) {
    KH_RETURN_IF_ERROR(k->prim.daead->Decrypt({aad}, ct, out.ptr));
  } else {
    KH_RETURN_IF_ERROR(k->prim.daead->Decrypt({ct.first(prefix), aad}, ct.subspan(prefix), out.ptr));
  }
  *out.len = need;
  return OkStatus();
}

// ------------------------------------------------------------------ MAC

// cppcheck-suppress passedByValue
Status Keyset::MacCompute(ByteView msg, Out out) {
  return Counting([&](Use* use) { return MacComputeOnce(msg, out, use); });
}

Status Keyset::MacComputeOnce(ByteView msg, Out out, Use* use) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kMac));
  if (TooLarge(msg)) return KH_E_TOO_LARGE;
  const size_t prefix = raw() ? 0 : wire::kHeaderLen;
  const size_t need = prefix + info_->sizes.tag_len;
  KH_RETURN_IF_ERROR(CheckOut(out, need));
  if (Overlaps(out.ptr, need, msg.data(), msg.size())) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  Key* k = primary_;
  KH_RETURN_IF_ERROR(CountUse(k, false, use));
  if (!raw()) wire::EncodeHeader(info_->alg, k->id, out.ptr);
  Status s = k->prim.mac->Compute({ByteView(out.ptr, prefix), msg}, out.ptr + prefix);
  if (!s.ok()) {
    OPENSSL_cleanse(out.ptr, need);
    return s;
  }
  *out.len = need;
  return OkStatus();
}

Status Keyset::MacVerify(ByteView msg, ByteView tag) const {
  KH_RETURN_IF_ERROR(CheckFamily(Family::kMac));
  if (TooLarge(msg)) return KH_E_TOO_LARGE;
  std::shared_lock lock(mu_);
  if (raw()) {
    const size_t full = info_->sizes.tag_len;
    return primary_->prim.mac->Verify({msg}, tag, std::max<size_t>(10, full / 2));
  }
  uint32_t key_id = 0;
  KH_RETURN_IF_ERROR(wire::ParseHeader(tag, info_->alg, &key_id));
  const Key* k = nullptr;
  KH_RETURN_IF_ERROR(Usable(key_id, &k));
  const size_t full = info_->sizes.tag_len;
  return k->prim.mac->Verify({tag.first(wire::kHeaderLen), msg}, tag.subspan(wire::kHeaderLen), full);
}

// ----------------------------------------------------------- signatures

// cppcheck-suppress passedByValue
Status Keyset::SigSign(ByteView msg, Out out) {
  return Counting([&](Use* use) { return SigSignOnce(msg, out, use); });
}

Status Keyset::SigSignOnce(ByteView msg, Out out, Use* use) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kSig));
  if (TooLarge(msg)) return KH_E_TOO_LARGE;
  const size_t prefix = raw() ? 0 : wire::kHeaderLen;
  // The exact DER length is known only after signing: require the bound.
  const size_t bound = prefix + (info_->sizes.max_output_len - wire::kHeaderLen);
  KH_RETURN_IF_ERROR(CheckOut(out, bound));
  if (Overlaps(out.ptr, bound, msg.data(), msg.size())) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  Key* k = primary_;
  if (!k->prim.sig->has_private()) return KH_E_WRONG_PRIMITIVE;
  KH_RETURN_IF_ERROR(CountUse(k, false, use));
  uint8_t header[wire::kHeaderLen];
  wire::EncodeHeader(info_->alg, k->id, header);
  uint8_t sig[sig::kMaxSigLen];
  size_t sig_len = 0;
  if (raw()) {
    KH_RETURN_IF_ERROR(k->prim.sig->Sign({msg}, sig, &sig_len));
  } else {
    KH_RETURN_IF_ERROR(k->prim.sig->Sign({ByteView(header, prefix), msg}, sig, &sig_len));
  }
  std::copy(header, header + prefix, out.ptr);
  std::copy(sig, sig + sig_len, out.ptr + prefix);
  *out.len = prefix + sig_len;
  return OkStatus();
}

Status Keyset::SigVerify(ByteView msg, ByteView sig) const {
  KH_RETURN_IF_ERROR(CheckFamily(Family::kSig));
  if (TooLarge(msg)) return KH_E_TOO_LARGE;
  std::shared_lock lock(mu_);
  if (raw()) return primary_->prim.sig->Verify({msg}, sig);
  uint32_t key_id = 0;
  KH_RETURN_IF_ERROR(wire::ParseHeader(sig, info_->alg, &key_id));
  const Key* k = nullptr;
  KH_RETURN_IF_ERROR(Usable(key_id, &k));
  return k->prim.sig->Verify({sig.first(wire::kHeaderLen), msg}, sig.subspan(wire::kHeaderLen));
}

// cppcheck-suppress passedByValue
Status Keyset::SigSignPlain(ByteView msg, Out out) {
  return Counting([&](Use* use) { return SigSignPlainOnce(msg, out, use); });
}

Status Keyset::SigSignPlainOnce(ByteView msg, Out out, Use* use) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kSig));
  if (TooLarge(msg)) return KH_E_TOO_LARGE;
  const size_t bound = info_->sizes.max_output_len - wire::kHeaderLen;
  KH_RETURN_IF_ERROR(CheckOut(out, bound));
  if (Overlaps(out.ptr, bound, msg.data(), msg.size())) return KH_E_INVALID_ARGUMENT;
  std::shared_lock lock(mu_);
  if (!primary_->prim.sig->has_private()) return KH_E_WRONG_PRIMITIVE;
  KH_RETURN_IF_ERROR(CountUse(primary_, false, use));
  uint8_t sig[sig::kMaxSigLen];
  size_t sig_len = 0;
  KH_RETURN_IF_ERROR(primary_->prim.sig->Sign({msg}, sig, &sig_len));
  std::copy(sig, sig + sig_len, out.ptr);
  *out.len = sig_len;
  return OkStatus();
}

// cppcheck-suppress passedByValue
Status Keyset::SigSignDigest(ByteView digest, Out out) {
  return Counting([&](Use* use) { return SigSignDigestOnce(digest, out, use); });
}

Status Keyset::SigSignDigestOnce(ByteView digest, Out out, Use* use) {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kSig));
  if (info_->alg == KH_ALG_ED25519) return KH_E_WRONG_PRIMITIVE;
  if (digest.size() != 32) return KH_E_INVALID_ARGUMENT;
  const size_t bound = info_->sizes.max_output_len - wire::kHeaderLen;
  KH_RETURN_IF_ERROR(CheckOut(out, bound));
  std::shared_lock lock(mu_);
  if (!primary_->prim.sig->has_private()) return KH_E_WRONG_PRIMITIVE;
  KH_RETURN_IF_ERROR(CountUse(primary_, false, use));
  uint8_t sig[sig::kMaxSigLen];
  size_t sig_len = 0;
  KH_RETURN_IF_ERROR(primary_->prim.sig->SignDigest(digest, sig, &sig_len));
  std::copy(sig, sig + sig_len, out.ptr);
  *out.len = sig_len;
  return OkStatus();
}

Status Keyset::SigVerifyPlain(uint32_t key_id, ByteView msg, ByteView sig) const {
  KH_RETURN_IF_ERROR(CheckFamily(Family::kSig));
  if (TooLarge(msg)) return KH_E_TOO_LARGE;
  std::shared_lock lock(mu_);
  const Key* k = primary_;
  if (key_id != 0) KH_RETURN_IF_ERROR(Usable(key_id, &k));
  return k->prim.sig->Verify({msg}, sig);
}

// ------------------------------------------------------- agreement, KDF

Status Keyset::KexAgree(ByteView peer, Out out) const {
  ClearLen(out);
  KH_RETURN_IF_ERROR(CheckFamily(Family::kKex));
  KH_RETURN_IF_ERROR(CheckOut(out, 32));
  std::shared_lock lock(mu_);
  uint8_t secret[32];
  Status s = primary_->prim.kex->Agree(peer, secret);
  if (s.ok()) {
    std::copy(secret, secret + 32, out.ptr);
    *out.len = 32;
  }
  OPENSSL_cleanse(secret, sizeof(secret));
  return s;
}

Status Keyset::KdfDerive(ByteView salt, ByteView info, MutableBytes out) const {
  KH_RETURN_IF_ERROR(CheckFamily(Family::kKdf));
  if (TooLarge(salt) || TooLarge(info)) return KH_E_TOO_LARGE;
  std::shared_lock lock(mu_);
  if (out.size() == 0 || out.size() > primary_->prim.kdf->max_output()) return KH_E_INVALID_ARGUMENT;
  return primary_->prim.kdf->Derive(salt, info, out);
}

}  // namespace keyhold::keyset
