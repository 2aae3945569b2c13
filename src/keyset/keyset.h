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

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
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
  // KeysetId: 16 random bytes fixed when a keyset is generated; it names
  // the keyset in its file's metadata (docs/spec/keyset.md).
  using KeysetId = std::array<uint8_t, 16>;
  // KekId: a non-secret fingerprint of a key-encryption key
  // (keystore::Kek::id), to tell whether a save is an export.
  using KekId = std::array<uint8_t, 16>;
  // kDefaultReservation: use counts reserved per write of a stored keyset
  // (docs/decisions/0012-keyset-storage.md).
  static constexpr uint64_t kDefaultReservation = uint64_t{1} << 20;

  // usage_limit: cap on random-nonce encryptions per key (0 = the
  // algorithm's default). reservation: see kDefaultReservation (0 = it).
  static StatusOr<std::unique_ptr<Keyset>> Generate(kh_alg alg, uint32_t flags, uint64_t usage_limit,
                                                    uint64_t reservation = 0);
  static StatusOr<std::unique_ptr<Keyset>> ImportRaw(kh_alg alg, ByteView key);
  static StatusOr<std::unique_ptr<Keyset>> ImportPublic(kh_alg alg, ByteView pub);

  // RestoredKey: one key of a keyset being rebuilt from storage.
  struct RestoredKey {
    uint32_t id;
    kh_key_status status;
    ByteView material;  // empty for destroyed keys
    uint64_t uses;
    uint64_t created = 0;  // seconds since the Unix epoch
  };
  // Restore rebuilds a managed keyset from its keys (the keystore and the
  // golden-vector tests use it). Ids must be non-zero and unique; the
  // primary must be enabled. id: the keyset id (nullptr = a fresh one).
  static StatusOr<std::unique_ptr<Keyset>> Restore(kh_alg alg, uint32_t flags,
                                                   std::span<const RestoredKey> keys, uint32_t primary_id,
                                                   uint64_t usage_limit, const KeysetId* id = nullptr,
                                                   uint64_t reservation = 0);

  const AlgInfo& alg_info() const { return *info_; }
  bool raw() const { return (flags_ & KH_KEYSET_RAW) != 0; }
  bool exportable() const { return (flags_ & KH_KEYSET_EXPORTABLE) != 0; }
  const KeysetId& id() const { return id_; }

  // ------------------------------------------------------------ storage
  //
  // The keystore (src/keystore) encodes snapshots and writes them; the
  // keyset decides what each write must contain so that a stored keyset's
  // use counts never fall behind real use, and a new key is on disk before
  // its first use (docs/decisions/0012-keyset-storage.md).

  // Snapshot: a consistent copy of the keyset, secrets in guarded memory.
  struct SnapshotKey {
    uint32_t id = 0;
    kh_key_status status = KH_KEY_ENABLED;
    uint64_t created = 0;
    uint64_t uses = 0;             // the count to write (see Counts)
    secmem::SecretBytes material;  // empty for destroyed keys
  };
  struct Snapshot {
    kh_alg alg = KH_ALG_AES256_GCM;
    uint32_t flags = 0;
    KeysetId id{};
    uint32_t primary_id = 0;
    std::vector<SnapshotKey> keys;
  };

  // Store: where a keyset lives (keystore::FileStore). Write encodes the
  // snapshot under the store's KEK and replaces the stored copy
  // atomically; it is called with no keyset lock held.
  class Store {
   public:
    virtual ~Store() = default;
    virtual Status Write(const Snapshot& snapshot) = 0;
    virtual const KekId& kek_id() const = 0;
  };

  // Save writes the keyset to store and makes store its home: later use
  // reservations are written there. The first save or load binds the
  // keyset to its KEK; saving under another is KH_E_NOT_EXPORTABLE unless
  // the keyset is exportable. Raw keysets: KH_E_UNSUPPORTED.
  Status Save(const std::shared_ptr<Store>& store);
  // Export returns a snapshot for a wrapped export (KH_E_NOT_EXPORTABLE
  // unless exportable).
  StatusOr<Snapshot> Export() const;
  // Bind records where a keyset that was just restored from storage came
  // from: its KEK and, for a file, its home store (nullptr for an import).
  void Bind(const KekId& kek, std::shared_ptr<Store> home);
  // SaveIsExport: whether Save under kek would be an export (the keyset is
  // bound to another KEK); the engine's export policy asks first.
  bool SaveIsExport(const KekId& kek);
  // usage_limit: the cap on random-nonce encryptions per key, 0 when the
  // algorithm has none (metrics: usage headroom).
  uint64_t usage_limit() const { return limited() ? usage_limit_ : 0; }

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

  // ------------------------------------------------------------ streams
  //
  // A streaming AEAD (src/stream, docs/spec/stream.md) derives its own key
  // per stream from one AEAD key of the keyset. StreamKeyFn receives that
  // key's id (0 for a raw keyset) and material; it runs under the keyset's
  // shared lock and must not keep the material.
  using StreamKeyFn = std::function<Status(uint32_t key_id, ByteView material)>;
  // StreamEncryptKey counts one use of the primary key (as an encryption:
  // the usage limit, stored use counts and their reservations apply) and
  // calls fn with it.
  // KH_E_WRONG_PRIMITIVE unless the keyset is an AEAD keyset.
  Status StreamEncryptKey(const StreamKeyFn& fn);
  // StreamDecryptKey calls fn with the key named key_id: KH_E_UNKNOWN_KEY,
  // KH_E_KEY_DISABLED, KH_E_KEY_DESTROYED as for a ciphertext header; a raw
  // keyset holds only key id 0.
  Status StreamDecryptKey(uint32_t key_id, const StreamKeyFn& fn) const;

 private:
  // kNoCeiling: the key's uses are not bounded by a stored count.
  static constexpr uint64_t kNoCeiling = ~uint64_t{0};

  struct Key {
    uint32_t id = 0;
    kh_key_status status = KH_KEY_ENABLED;
    uint64_t created = 0;
    secmem::SecretBytes material;  // empty for public-only and destroyed keys
    Primitive prim;
    std::atomic<uint64_t> uses{0};
    // ceiling: for a stored keyset, the use count its home file allows
    // (uses never pass it without a write first); 0 for a key not yet
    // written there; kNoCeiling when the keyset has no home.
    std::atomic<uint64_t> ceiling{kNoCeiling};
  };

  // Use: what CountUse found besides the status.
  enum class Use {
    kCounted,       // counted, nothing to do
    kRenew,         // counted; half the reservation is spent: renew it after the operation
    kReserveFirst,  // not counted: the ceiling is reached; reserve, then retry
  };
  // Counts: what a snapshot writes as each key's use count.
  enum class Counts {
    kExact,    // an explicit save: the exact counts, lowering the ceilings to them
    kReserve,  // a reservation: limited keys get uses + reservation
    kExport,   // an export: the exact counts, ceilings untouched
  };

  Keyset(const AlgInfo* info, uint32_t flags, uint64_t usage_limit, uint64_t reservation)
      : info_(info),
        flags_(flags),
        usage_limit_(usage_limit),
        reservation_(reservation == 0 ? kDefaultReservation : reservation) {}
  Status AddKey(secmem::SecretBytes material, Primitive prim, uint32_t* id);  // caller holds mu_ exclusively
  Key* FindLocked(uint32_t id) const;
  // Usable returns the key for an id from an input header, or a status.
  Status Usable(uint32_t id, const Key** key) const;
  Status CheckFamily(Family f) const;
  // limited: the algorithm's use count bounds random-nonce encryptions.
  bool limited() const { return info_->default_usage_limit != 0; }
  // CountUse applies the usage limit of random-nonce encryptions and the
  // stored ceiling.
  Status CountUse(Key* k, bool limited, Use* use);
  // Counting runs op (one attempt of a counted operation), reserving use
  // counts in the home file when op reports kReserveFirst.
  template <typename Op>
  Status Counting(Op&& op);
  // Renew writes a reservation to the home file unless a write is under
  // way.
  Status Renew();
  // ReserveLocked writes a reservation if the primary key's ceiling is
  // reached; the caller holds store_mu_. attempt: how often the caller
  // already reserved (the reservation doubles each time).
  Status ReserveLocked(int attempt);
  StatusOr<Snapshot> TakeSnapshot(Counts counts, int attempt = 0) const;
  // Persisted records a successful write of snapshot.
  void Persisted(const Snapshot& snapshot, Counts counts);

  Status AeadEncryptOnce(ByteView pt, ByteView aad, Out out, Use* use);
  Status DaeadEncryptOnce(ByteView pt, ByteView aad, Out out, Use* use);
  Status MacComputeOnce(ByteView msg, Out out, Use* use);
  Status SigSignOnce(ByteView msg, Out out, Use* use);
  Status SigSignPlainOnce(ByteView msg, Out out, Use* use);
  Status SigSignDigestOnce(ByteView digest, Out out, Use* use);
  Status StreamEncryptKeyOnce(const StreamKeyFn& fn, Use* use);

  const AlgInfo* info_;
  uint32_t flags_;
  uint64_t usage_limit_;
  uint64_t reservation_;
  KeysetId id_{};
  mutable std::shared_mutex mu_;
  std::vector<std::unique_ptr<Key>> keys_;
  Key* primary_ = nullptr;

  // Storage state. store_mu_ serializes writes of this keyset and is
  // never taken while mu_ is held.
  std::mutex store_mu_;
  std::shared_ptr<Store> home_;        // guarded by store_mu_
  KekId kek_id_{};                     // guarded by store_mu_
  bool kek_bound_ = false;             // guarded by store_mu_
  std::atomic<bool> has_home_{false};  // home_ != nullptr, readable under mu_
};

}  // namespace keyhold::keyset
