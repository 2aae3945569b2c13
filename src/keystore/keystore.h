// The keystore: keysets stored encrypted under a KEK, in files
// (docs/spec/keyset.md) or as wrapped exports. The ABI's kh_keyset_*_file
// and kh_keyset_*_wrapped calls are thin wrappers over these.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keyset/keyset.h"
#include "keystore/format.h"
#include "keystore/kek.h"

namespace keyhold::keystore {

// Limits: the engine's per-keyset settings applied to a keyset read from
// storage (config::Config).
struct Limits {
  uint64_t usage_limit = 0;  // 0: the algorithm's default
  uint64_t reservation = 0;  // 0: Keyset::kDefaultReservation
};

// FileStore: a keyset's home file and the KEK it is written under.
class FileStore final : public keyset::Keyset::Store {
 public:
  FileStore(std::string path, std::shared_ptr<Kek> kek) : path_(std::move(path)), kek_(std::move(kek)) {}
  Status Write(const keyset::Keyset::Snapshot& snapshot) override;
  const keyset::Keyset::KekId& kek_id() const override { return kek_->id(); }

 private:
  const std::string path_;  // absolute
  const std::shared_ptr<Kek> kek_;
};

// SaveFile writes ks to path under kek (Keyset::Save) and makes path its
// home.
Status SaveFile(keyset::Keyset& ks, const std::shared_ptr<Kek>& kek, const std::string& path);

// LoadFile reads and decrypts the keyset file at path, binding the keyset
// to kek and to path.
StatusOr<std::unique_ptr<keyset::Keyset>> LoadFile(const std::shared_ptr<Kek>& kek, const std::string& path,
                                                   const Limits& limits);

// FileInfo parses the keyset file at path without a KEK.
Status FileInfo(const std::string& path, Meta* out);

// ExportWrapped encodes ks under kek (KH_E_NOT_EXPORTABLE unless the
// keyset is exportable). ExportSize is the length, without encrypting.
StatusOr<std::vector<uint8_t>> ExportWrapped(const keyset::Keyset& ks, Kek& kek);
StatusOr<size_t> ExportSize(const keyset::Keyset& ks);

// ImportWrapped decrypts an export with kek; the keyset is bound to kek and
// has no home until saved.
StatusOr<std::unique_ptr<keyset::Keyset>> ImportWrapped(const std::shared_ptr<Kek>& kek, ByteView blob,
                                                        const Limits& limits);

}  // namespace keyhold::keystore
