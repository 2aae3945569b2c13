#include "keystore/keystore.h"

#include "keystore/file.h"

namespace keyhold::keystore {
namespace {

// Restore rebuilds a keyset from an authenticated snapshot. Key material
// that the algorithm refuses was authenticated, so it was written that way:
// the file is malformed rather than forged.
StatusOr<std::unique_ptr<keyset::Keyset>> Restore(const keyset::Keyset::Snapshot& s, const Limits& limits) {
  std::vector<keyset::Keyset::RestoredKey> keys;
  keys.reserve(s.keys.size());
  for (const auto& k : s.keys) keys.push_back({k.id, k.status, k.material.view(), k.uses, k.created});
  auto ks = keyset::Keyset::Restore(s.alg, s.flags, keys, s.primary_id, limits.usage_limit, &s.id,
                                    limits.reservation);
  if (!ks.ok() && ks.status().code() != KH_E_OUT_OF_MEMORY) return Status(KH_E_MALFORMED);
  return ks;
}

StatusOr<std::unique_ptr<keyset::Keyset>> Open(const std::shared_ptr<Kek>& kek, ByteView bytes,
                                               const Limits& limits) {
  Parsed p;
  KH_RETURN_IF_ERROR(Parse(bytes, &p));
  auto snapshot = Decrypt(p, *kek);
  if (!snapshot.ok()) return snapshot.status();
  return Restore(*snapshot, limits);
}

}  // namespace

Status FileStore::Write(const keyset::Keyset::Snapshot& snapshot) {
  auto bytes = Encode(snapshot, *kek_);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomic(path_, *bytes);
}

Status SaveFile(keyset::Keyset& ks, const std::shared_ptr<Kek>& kek, const std::string& path) {
  std::string abs;
  KH_RETURN_IF_ERROR(AbsolutePath(path, &abs));
  return ks.Save(std::make_shared<FileStore>(abs, kek));
}

StatusOr<std::unique_ptr<keyset::Keyset>> LoadFile(const std::shared_ptr<Kek>& kek, const std::string& path,
                                                   const Limits& limits) {
  std::string abs;
  KH_RETURN_IF_ERROR(AbsolutePath(path, &abs));
  std::vector<uint8_t> bytes;
  KH_RETURN_IF_ERROR(ReadKeyFile(abs, kMaxKeyFileLen, &bytes));
  auto ks = Open(kek, bytes, limits);
  if (!ks.ok()) return ks.status();
  (*ks)->Bind(kek->id(), std::make_shared<FileStore>(abs, kek));
  return ks;
}

Status FileInfo(const std::string& path, Meta* out) {
  std::vector<uint8_t> bytes;
  KH_RETURN_IF_ERROR(ReadKeyFile(path, kMaxKeyFileLen, &bytes));
  Parsed p;
  KH_RETURN_IF_ERROR(Parse(bytes, &p));
  *out = std::move(p.meta);
  return OkStatus();
}

StatusOr<std::vector<uint8_t>> ExportWrapped(const keyset::Keyset& ks, Kek& kek) {
  auto snapshot = ks.Export();
  if (!snapshot.ok()) return snapshot.status();
  return Encode(*snapshot, kek);
}

StatusOr<size_t> ExportSize(const keyset::Keyset& ks) {
  auto snapshot = ks.Export();
  if (!snapshot.ok()) return snapshot.status();
  return EncodedSize(*snapshot);
}

StatusOr<std::unique_ptr<keyset::Keyset>> ImportWrapped(const std::shared_ptr<Kek>& kek, ByteView blob,
                                                        const Limits& limits) {
  if (blob.size() > kMaxKeyFileLen) return Status(KH_E_TOO_LARGE);
  auto ks = Open(kek, blob, limits);
  if (!ks.ok()) return ks.status();
  (*ks)->Bind(kek->id(), nullptr);
  return ks;
}

}  // namespace keyhold::keystore
