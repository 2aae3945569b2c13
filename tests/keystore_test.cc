// Keysets on disk through the C ABI (docs/spec/keyset.md): round trips for
// every algorithm, file permissions, KEK providers, wrong KEKs, exports,
// every truncation and bit flip of a file, and use counts that stay ahead
// of use across restarts (docs/decisions/0012-keyset-storage.md).
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "keystore_util.h"

namespace keyhold {
namespace {

using testing::FileInfo;
using testing::FileMode;
using testing::HexKey;
using testing::KeyInfos;
using testing::Load;
using testing::OpenKek;
using testing::ReadBytes;
using testing::ReadFile;
using testing::Save;
using testing::TempDir;
using testing::WriteBytes;

constexpr kh_alg kAllAlgs[] = {
    KH_ALG_AES256_GCM,
    KH_ALG_CHACHA20_POLY1305,
    KH_ALG_XCHACHA20_POLY1305,
    KH_ALG_AES256_SIV,
    KH_ALG_HMAC_SHA256,
    KH_ALG_HMAC_SHA512,
    KH_ALG_ED25519,
    KH_ALG_ECDSA_P256_SHA256_DER,
    KH_ALG_X25519,
    KH_ALG_HKDF_SHA256,
    KH_ALG_ECDSA_P256_SHA256_P1363,
    KH_ALG_HKDF_SHA512,
};

const std::vector<uint8_t> kMsg = {'s', 't', 'o', 'r', 'e', 'd'};
const std::vector<uint8_t> kAad = {'a', 'd'};
// An X25519 peer public key (RFC 7748 section 6.1, Bob's).
const std::vector<uint8_t> kPeer =
    testing::Hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");

// Probe makes an output with the keyset's primary key that Check can test
// after a round trip: a ciphertext, tag or signature to decrypt or verify,
// or the deterministic result of a KDF or key agreement.
std::vector<uint8_t> Probe(kh_handle ks, kh_alg alg) {
  std::vector<uint8_t> out(256);
  size_t n = 0;
  kh_status s = KH_E_INTERNAL;
  switch (alg) {
    case KH_ALG_AES256_GCM:
    case KH_ALG_CHACHA20_POLY1305:
    case KH_ALG_XCHACHA20_POLY1305:
      s = kh_aead_encrypt(ks, kMsg.data(), kMsg.size(), kAad.data(), kAad.size(), out.data(), out.size(), &n);
      break;
    case KH_ALG_AES256_SIV:
      s = kh_daead_encrypt(ks, kMsg.data(), kMsg.size(), kAad.data(), kAad.size(), out.data(), out.size(),
                           &n);
      break;
    case KH_ALG_HMAC_SHA256:
    case KH_ALG_HMAC_SHA512:
      s = kh_mac_compute(ks, kMsg.data(), kMsg.size(), out.data(), out.size(), &n);
      break;
    case KH_ALG_X25519:
      s = kh_kex_agree(ks, kPeer.data(), kPeer.size(), out.data(), out.size(), &n);
      break;
    case KH_ALG_HKDF_SHA256:
    case KH_ALG_HKDF_SHA512:
      n = 42;
      s = kh_kdf_derive(ks, nullptr, 0, kAad.data(), kAad.size(), out.data(), n);
      break;
    default:
      s = kh_sig_sign(ks, kMsg.data(), kMsg.size(), out.data(), out.size(), &n);
  }
  EXPECT_EQ(s, KH_OK) << kh_alg_name(alg);
  out.resize(s == KH_OK ? n : 0);
  return out;
}

kh_status Check(kh_handle ks, kh_alg alg, const std::vector<uint8_t>& probe) {
  std::vector<uint8_t> out(256);
  size_t n = 0;
  switch (alg) {
    case KH_ALG_AES256_GCM:
    case KH_ALG_CHACHA20_POLY1305:
    case KH_ALG_XCHACHA20_POLY1305:
      return kh_aead_decrypt(ks, probe.data(), probe.size(), kAad.data(), kAad.size(), out.data(), out.size(),
                             &n);
    case KH_ALG_AES256_SIV:
      return kh_daead_decrypt(ks, probe.data(), probe.size(), kAad.data(), kAad.size(), out.data(),
                              out.size(), &n);
    case KH_ALG_HMAC_SHA256:
    case KH_ALG_HMAC_SHA512:
      return kh_mac_verify(ks, kMsg.data(), kMsg.size(), probe.data(), probe.size());
    case KH_ALG_X25519:
    case KH_ALG_HKDF_SHA256:
    case KH_ALG_HKDF_SHA512: {
      const std::vector<uint8_t> again = Probe(ks, alg);
      return again == probe ? KH_OK : KH_E_AUTH_FAILED;
    }
    default:
      return kh_sig_verify(ks, kMsg.data(), kMsg.size(), probe.data(), probe.size());
  }
}

class KeystoreTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_EQ(OpenKek(engine_, "file:" + dir_ / "master.key", &kek_), KH_OK);
  }
  void TearDown() override {
    for (kh_handle h : close_) (void)kh_handle_close(h);
    if (kek_ != 0) {
      EXPECT_EQ(kh_handle_close(kek_), KH_OK);
    }
    EngineFixture::TearDown();
  }
  // Owned: closed at teardown.
  kh_handle Owned(kh_handle h) {
    close_.push_back(h);
    return h;
  }
  kh_handle MustLoad(const std::string& path, kh_handle kek = 0) {
    kh_handle ks = 0;
    EXPECT_EQ(Load(engine_, kek == 0 ? kek_ : kek, path, &ks), KH_OK) << path;
    return Owned(ks);
  }
  // SavedKeyset writes an AES-GCM keyset with three keys (primary, disabled,
  // destroyed) and returns its file's bytes.
  std::vector<uint8_t> SavedKeyset(const std::string& path, uint32_t flags = 0) {
    const kh_handle ks = Owned(Generate(KH_ALG_AES256_GCM, flags));
    uint32_t first = KeyInfos(ks)[0].key_id, second = 0, third = 0;
    EXPECT_EQ(kh_keyset_rotate(ks, &second), KH_OK);
    EXPECT_EQ(kh_keyset_rotate(ks, &third), KH_OK);
    EXPECT_EQ(kh_keyset_disable(ks, first), KH_OK);
    EXPECT_EQ(kh_keyset_destroy_key(ks, second), KH_OK);
    EXPECT_EQ(Save(ks, kek_, path), KH_OK);
    return ReadBytes(path);
  }

  TempDir dir_;
  kh_handle kek_ = 0;
  std::vector<kh_handle> close_;
};

TEST_F(KeystoreTest, EveryAlgorithmRoundTripsWithItsKeysStatesAndCounts) {
  for (kh_alg alg : kAllAlgs) {
    SCOPED_TRACE(kh_alg_name(alg));
    const kh_handle ks = Owned(Generate(alg));
    const std::vector<uint8_t> old_probe = Probe(ks, alg);
    uint32_t second = 0, third = 0;
    ASSERT_EQ(kh_keyset_rotate(ks, &second), KH_OK);
    const std::vector<uint8_t> second_probe = Probe(ks, alg);
    ASSERT_EQ(kh_keyset_rotate(ks, &third), KH_OK);
    ASSERT_EQ(kh_keyset_disable(ks, second), KH_OK);
    const auto before = KeyInfos(ks);
    const std::string path = dir_ / (std::string(kh_alg_name(alg)) + ".keyset");
    ASSERT_EQ(Save(ks, kek_, path), KH_OK);
    EXPECT_EQ(FileMode(path), 0600u);

    const kh_handle loaded = MustLoad(path);
    kh_keyset_info info{};
    ASSERT_EQ(kh_keyset_info_get(loaded, &info), KH_OK);
    EXPECT_EQ(info.alg, static_cast<uint32_t>(alg));
    EXPECT_EQ(info.primary_key_id, third);
    const auto after = KeyInfos(loaded);
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].key_id, before[i].key_id);
      EXPECT_EQ(after[i].status, before[i].status);
      EXPECT_EQ(after[i].is_primary, before[i].is_primary);
      EXPECT_EQ(after[i].use_count, before[i].use_count);  // an explicit save writes exact counts
    }
    // The oldest key's output still checks; the disabled key is refused as
    // such; the new primary produces outputs that check.
    if (alg != KH_ALG_X25519 && alg != KH_ALG_HKDF_SHA256 && alg != KH_ALG_HKDF_SHA512) {
      EXPECT_EQ(Check(loaded, alg, old_probe), KH_OK);
      EXPECT_EQ(Check(loaded, alg, second_probe), KH_E_KEY_DISABLED);
    }
    EXPECT_EQ(Check(loaded, alg, Probe(loaded, alg)), KH_OK);
    EXPECT_EQ(Check(ks, alg, Probe(loaded, alg)), KH_OK);  // same key material on both sides
  }
}

TEST_F(KeystoreTest, FileInfoReadsTheMetadataWithoutAKek) {
  const kh_handle ks = Owned(Generate(KH_ALG_ED25519, KH_KEYSET_EXPORTABLE));
  uint32_t second = 0;
  ASSERT_EQ(kh_keyset_rotate(ks, &second), KH_OK);
  (void)Probe(ks, KH_ALG_ED25519);
  (void)Probe(ks, KH_ALG_ED25519);
  const auto keys = KeyInfos(ks);
  const std::string path = dir_ / "info.keyset";
  const uint64_t before = static_cast<uint64_t>(std::time(nullptr));
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);

  kh_keyset_file_info info{};
  std::vector<kh_key_file_info> file_keys;
  ASSERT_EQ(FileInfo(path, &info, &file_keys), KH_OK);
  EXPECT_EQ(info.version, 1u);
  EXPECT_EQ(info.alg, static_cast<uint32_t>(KH_ALG_ED25519));
  EXPECT_EQ(info.flags, KH_KEYSET_EXPORTABLE);
  EXPECT_EQ(info.kek_kind, static_cast<uint32_t>(KH_KEK_FILE));
  EXPECT_EQ(info.primary_key_id, second);
  ASSERT_EQ(info.key_count, 2u);
  ASSERT_EQ(file_keys.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(file_keys[i].key_id, keys[i].key_id);
    EXPECT_EQ(file_keys[i].status, static_cast<uint32_t>(KH_KEY_ENABLED));
    EXPECT_EQ(file_keys[i].use_count, keys[i].use_count);
    EXPECT_LE(file_keys[i].created, before + 1);
    EXPECT_GE(file_keys[i].created + 600, before);
  }
  EXPECT_EQ(file_keys[1].use_count, 2u);
  // The keyset id is fixed at generation: a second save and a load keep it.
  const kh_handle loaded = MustLoad(path);
  const std::string path2 = dir_ / "info2.keyset";
  ASSERT_EQ(Save(loaded, kek_, path2), KH_OK);
  kh_keyset_file_info info2{};
  ASSERT_EQ(FileInfo(path2, &info2, &file_keys), KH_OK);
  EXPECT_EQ(std::memcmp(info.keyset_id, info2.keyset_id, 16), 0);

  // Buffer protocol: too small gives the count and writes nothing.
  kh_keyset_file_info untouched{};
  kh_key_file_info one{};
  size_t n = 0;
  EXPECT_EQ(kh_keyset_file_info_get(path.data(), path.size(), &untouched, &one, 1, &n),
            KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(untouched.version, 0u);
  EXPECT_EQ(kh_keyset_file_info_get(path.data(), path.size(), nullptr, nullptr, 0, &n), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_keyset_file_info_get(path.data(), path.size(), &info, nullptr, 2, &n), KH_E_NULL_POINTER);
}

TEST_F(KeystoreTest, KeyFilesAreCreatedPrivateAndOpenOnesAreRefused) {
  const std::string kek_path = dir_ / "master.key";
  EXPECT_EQ(FileMode(kek_path), 0600u);
  const std::string text = ReadFile(kek_path);
  EXPECT_EQ(text.size(), 65u);
  EXPECT_EQ(text.back(), '\n');

  const std::string path = dir_ / "perm.keyset";
  SavedKeyset(path);
  EXPECT_EQ(FileMode(path), 0600u);
  for (const mode_t mode : {0640, 0604, 0620, 0602, 0610, 0601, 0644}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    kh_handle ks = 0;
    EXPECT_EQ(Load(engine_, kek_, path, &ks), KH_E_INSECURE_FILE);
    kh_keyset_file_info info{};
    std::vector<kh_key_file_info> keys;
    EXPECT_EQ(FileInfo(path, &info, &keys), KH_E_INSECURE_FILE);
    ASSERT_EQ(::chmod(kek_path.c_str(), mode), 0);
    kh_handle k = 0;
    EXPECT_EQ(OpenKek(engine_, "file:" + kek_path, &k), KH_E_INSECURE_FILE);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);  // read-only for the owner is fine
  (void)MustLoad(path);
  // A save replaces the file (rename), so the new file is 0600 again.
  kh_handle ks = MustLoad(path);
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);
  EXPECT_EQ(FileMode(path), 0600u);
}

TEST_F(KeystoreTest, UmaskDoesNotChangeTheModeOfNewFiles) {
  const mode_t old = ::umask(0);
  const std::string path = dir_ / "umask.keyset";
  SavedKeyset(path);
  kh_handle k = 0;
  const std::string kek_path = dir_ / "umask.key";
  EXPECT_EQ(OpenKek(engine_, "file:" + kek_path, &k), KH_OK);
  Owned(k);
  ::umask(old);
  EXPECT_EQ(FileMode(path), 0600u);
  EXPECT_EQ(FileMode(kek_path), 0600u);
}

TEST_F(KeystoreTest, AWrongKekIsAnAuthenticationFailure) {
  const std::string path = dir_ / "wrong.keyset";
  SavedKeyset(path);
  kh_handle other = 0;
  ASSERT_EQ(OpenKek(engine_, "file:" + dir_ / "other.key", &other), KH_OK);
  Owned(other);
  kh_handle ks = 0;
  EXPECT_EQ(Load(engine_, other, path, &ks), KH_E_AUTH_FAILED);
  EXPECT_EQ(ks, 0u);

  // The same key bytes reached through the environment are the same KEK.
  const std::string text = ReadFile(dir_ / "master.key");
  ASSERT_EQ(::setenv("KH_TEST_KEK", text.substr(0, 64).c_str(), 1), 0);
  kh_handle env = 0;
  ASSERT_EQ(OpenKek(engine_, "env:KH_TEST_KEK", &env), KH_OK);
  Owned(env);
  uint32_t kind = 0;
  EXPECT_EQ(kh_kek_kind_get(env, &kind), KH_OK);
  EXPECT_EQ(kind, static_cast<uint32_t>(KH_KEK_ENV));
  EXPECT_EQ(kh_kek_kind_get(kek_, &kind), KH_OK);
  EXPECT_EQ(kind, static_cast<uint32_t>(KH_KEK_FILE));
  const kh_handle loaded = MustLoad(path, env);
  // ... so saving under it is not an export.
  EXPECT_EQ(Save(loaded, env, dir_ / "env.keyset"), KH_OK);
  kh_keyset_file_info info{};
  std::vector<kh_key_file_info> keys;
  ASSERT_EQ(FileInfo(dir_ / "env.keyset", &info, &keys), KH_OK);
  EXPECT_EQ(info.kek_kind, static_cast<uint32_t>(KH_KEK_ENV));
  (void)MustLoad(dir_ / "env.keyset");  // and the file KEK opens it
  ::unsetenv("KH_TEST_KEK");
}

TEST_F(KeystoreTest, KeysetsAreNotExportableByDefault) {
  const kh_handle ks = Owned(Generate(KH_ALG_HMAC_SHA256));
  kh_handle other = 0;
  ASSERT_EQ(OpenKek(engine_, "file:" + dir_ / "other.key", &other), KH_OK);
  Owned(other);
  size_t n = 1;
  EXPECT_EQ(kh_keyset_export_wrapped(ks, other, nullptr, 0, &n), KH_E_NOT_EXPORTABLE);
  EXPECT_EQ(n, 0u);
  std::vector<uint8_t> buf(4096, 0xAA);
  EXPECT_EQ(kh_keyset_export_wrapped(ks, kek_, buf.data(), buf.size(), &n), KH_E_NOT_EXPORTABLE);
  EXPECT_EQ(buf[0], 0xAA);
  // The first save binds the keyset to its KEK; saving under another one
  // would be an export.
  ASSERT_EQ(Save(ks, kek_, dir_ / "a.keyset"), KH_OK);
  EXPECT_EQ(Save(ks, other, dir_ / "b.keyset"), KH_E_NOT_EXPORTABLE);
  const kh_handle loaded = MustLoad(dir_ / "a.keyset");
  EXPECT_EQ(Save(loaded, other, dir_ / "b.keyset"), KH_E_NOT_EXPORTABLE);
  EXPECT_EQ(Save(loaded, kek_, dir_ / "c.keyset"), KH_OK);
  struct stat st {};
  EXPECT_NE(::stat((dir_ / "b.keyset").c_str(), &st), 0);
}

TEST_F(KeystoreTest, AnExportableKeysetTravelsWrappedForAnotherKek) {
  const kh_handle ks = Owned(Generate(KH_ALG_AES256_GCM, KH_KEYSET_EXPORTABLE));
  const std::vector<uint8_t> probe = Probe(ks, KH_ALG_AES256_GCM);
  kh_handle other = 0;
  ASSERT_EQ(OpenKek(engine_, "file:" + dir_ / "other.key", &other), KH_OK);
  Owned(other);
  size_t need = 0;
  ASSERT_EQ(kh_keyset_export_wrapped(ks, other, nullptr, 0, &need), KH_E_BUFFER_TOO_SMALL);
  std::vector<uint8_t> small(need - 1, 0xAA);
  size_t n = 0;
  EXPECT_EQ(kh_keyset_export_wrapped(ks, other, small.data(), small.size(), &n), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, need);
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](uint8_t b) { return b == 0xAA; }));
  std::vector<uint8_t> blob(need);
  ASSERT_EQ(kh_keyset_export_wrapped(ks, other, blob.data(), blob.size(), &n), KH_OK);
  ASSERT_EQ(n, need);

  kh_handle imported = 0;
  EXPECT_EQ(kh_keyset_import_wrapped(engine_, kek_, blob.data(), blob.size(), &imported), KH_E_AUTH_FAILED);
  ASSERT_EQ(kh_keyset_import_wrapped(engine_, other, blob.data(), blob.size(), &imported), KH_OK);
  Owned(imported);
  EXPECT_EQ(Check(imported, KH_ALG_AES256_GCM, probe), KH_OK);
  kh_keyset_info info{};
  ASSERT_EQ(kh_keyset_info_get(imported, &info), KH_OK);
  EXPECT_EQ(info.flags, KH_KEYSET_EXPORTABLE);
  // An export is a keyset file: it saves, and exportable keysets may be
  // saved under any KEK.
  ASSERT_EQ(Save(imported, kek_, dir_ / "imported.keyset"), KH_OK);
  EXPECT_EQ(Check(MustLoad(dir_ / "imported.keyset"), KH_ALG_AES256_GCM, probe), KH_OK);
  WriteBytes(dir_ / "blob.keyset", blob);
  EXPECT_EQ(Check(MustLoad(dir_ / "blob.keyset", other), KH_ALG_AES256_GCM, probe), KH_OK);

  EXPECT_EQ(kh_keyset_import_wrapped(engine_, other, nullptr, 5, &imported), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_keyset_import_wrapped(engine_, other, blob.data(), 10, &imported), KH_E_MALFORMED);
  EXPECT_EQ(imported, 0u);
}

TEST_F(KeystoreTest, RawKeysetsAreNotStored) {
  const std::vector<uint8_t> key(32, 7);
  kh_handle raw = 0;
  ASSERT_EQ(kh_keyset_import_raw(engine_, KH_ALG_AES256_GCM, key.data(), key.size(), &raw), KH_OK);
  Owned(raw);
  EXPECT_EQ(Save(raw, kek_, dir_ / "raw.keyset"), KH_E_UNSUPPORTED);
  size_t n = 0;
  EXPECT_EQ(kh_keyset_export_wrapped(raw, kek_, nullptr, 0, &n), KH_E_UNSUPPORTED);
}

TEST_F(KeystoreTest, EveryTruncationIsMalformed) {
  const std::string path = dir_ / "full.keyset";
  const std::vector<uint8_t> file = SavedKeyset(path);
  const std::string cut = dir_ / "cut.keyset";
  for (size_t len = 0; len < file.size(); ++len) {
    WriteBytes(cut, std::vector<uint8_t>(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(len)));
    kh_handle ks = 0;
    ASSERT_EQ(Load(engine_, kek_, cut, &ks), KH_E_MALFORMED) << "truncated to " << len;
    kh_keyset_file_info info{};
    std::vector<kh_key_file_info> keys;
    ASSERT_EQ(FileInfo(cut, &info, &keys), KH_E_MALFORMED) << "truncated to " << len;
    kh_handle imported = 0;
    ASSERT_EQ(kh_keyset_import_wrapped(engine_, kek_, file.data(), len, &imported), KH_E_MALFORMED) << len;
  }
  // A byte more is refused too.
  std::vector<uint8_t> longer = file;
  longer.push_back(0);
  WriteBytes(cut, longer);
  kh_handle ks = 0;
  EXPECT_EQ(Load(engine_, kek_, cut, &ks), KH_E_MALFORMED);
}

TEST_F(KeystoreTest, EveryBitFlipIsRefusedWithTheStatusItsFieldGives) {
  const std::string path = dir_ / "full.keyset";
  const std::vector<uint8_t> file = SavedKeyset(path);
  // Layout (docs/spec/keyset.md section 2): header 9, meta 31 + 23 * 3,
  // wrap_len 2, wrap 61, secrets_len 4, secrets.
  const size_t meta_end = 9 + 31 + 23 * 3;
  ASSERT_GT(file.size(), meta_end + 67);
  const std::string flipped = dir_ / "flipped.keyset";
  int checked = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> f = file;
      f[i] ^= static_cast<uint8_t>(1u << bit);
      kh_handle ks = 0;
      const kh_status s = kh_keyset_import_wrapped(engine_, kek_, f.data(), f.size(), &ks);
      ASSERT_NE(s, KH_OK) << "flip at byte " << i << " bit " << bit;
      ASSERT_EQ(ks, 0u);
      // Fields whose every value is checked, or that only authentication
      // can catch, give one status; the others (counts, lengths, ids,
      // states) give MALFORMED, UNSUPPORTED or AUTH_FAILED by value.
      const size_t key_off = i >= 40 && i < meta_end ? (i - 40) % 23 : 99;
      if (i < 4) {
        EXPECT_EQ(s, KH_E_MALFORMED) << i;  // magic
      } else if (i == 4) {
        EXPECT_EQ(s, KH_E_UNSUPPORTED) << i;  // version
      } else if (i < 9) {
        EXPECT_EQ(s, KH_E_MALFORMED) << i;  // meta_len
      } else if (i < 25) {
        EXPECT_EQ(s, KH_E_AUTH_FAILED) << i;  // keyset id: only bound by the AAD
      } else if (key_off >= 7 && key_off < 23) {
        EXPECT_EQ(s, KH_E_AUTH_FAILED) << i;  // created, use_count
      } else if (i >= meta_end && i < meta_end + 2) {
        EXPECT_EQ(s, KH_E_MALFORMED) << i;  // wrap_len
      } else if (i >= meta_end + 3 && i < meta_end + 63) {
        EXPECT_EQ(s, KH_E_AUTH_FAILED) << i;  // wrapped data key
      } else if (i >= meta_end + 63 && i < meta_end + 67) {
        EXPECT_EQ(s, KH_E_MALFORMED) << i;  // secrets_len
      } else if (i >= meta_end + 67) {
        EXPECT_EQ(s, KH_E_AUTH_FAILED) << i;  // secrets
      } else {
        EXPECT_TRUE(s == KH_E_MALFORMED || s == KH_E_UNSUPPORTED || s == KH_E_AUTH_FAILED)
            << i << " " << kh_status_name(s);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(file.size() * 8));
}

TEST_F(KeystoreTest, FileSystemAndSpecErrors) {
  kh_handle ks = 0;
  EXPECT_EQ(Load(engine_, kek_, dir_ / "missing.keyset", &ks), KH_E_NOT_FOUND);
  EXPECT_EQ(Load(engine_, kek_, dir_ / "no-dir/x.keyset", &ks), KH_E_NOT_FOUND);
  EXPECT_EQ(Load(engine_, kek_, dir_.path(), &ks), KH_E_IO);  // a directory
  const std::string fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(Load(engine_, kek_, fifo, &ks), KH_E_IO);  // not a regular file, and no hang
  kh_handle fifo_kek = 0;
  EXPECT_EQ(OpenKek(engine_, "file:" + fifo, &fifo_kek), KH_E_IO);
  const kh_handle gen = Owned(Generate(KH_ALG_AES256_GCM));
  EXPECT_EQ(Save(gen, kek_, dir_ / "no-dir/x.keyset"), KH_E_IO);
  EXPECT_EQ(Save(gen, kek_, dir_.path() + "/"), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_keyset_save_file(gen, kek_, nullptr, 3), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_keyset_save_file(gen, kek_, "", 0), KH_E_INVALID_ARGUMENT);
  const std::string with_nul = dir_ / "a" + std::string(1, '\0') + "b";
  EXPECT_EQ(kh_keyset_save_file(gen, kek_, with_nul.data(), with_nul.size()), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(Save(gen, gen, dir_ / "x.keyset"), KH_E_WRONG_HANDLE_TYPE);  // a keyset as the KEK
  EXPECT_EQ(Save(kek_, kek_, dir_ / "x.keyset"), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(Load(kek_, kek_, dir_ / "x.keyset", &ks), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(Save(gen, 0, dir_ / "x.keyset"), KH_E_STALE_HANDLE);

  // A read-only directory: the save fails and leaves nothing behind.
  if (::geteuid() != 0) {  // root ignores directory permissions
    const std::string ro = dir_ / "ro";
    ASSERT_EQ(::mkdir(ro.c_str(), 0500), 0);
    EXPECT_EQ(Save(gen, kek_, ro + "/x.keyset"), KH_E_IO);
    ::chmod(ro.c_str(), 0700);
  }

  kh_handle k = 0;
  for (const char* bad :
       {"", "file:", "env:", "env:1X", "env:A-B", "nope:x", "pkcs11:", "pkcs11:module=rel.so;token=t;key=k",
        "pkcs11:module=/m.so;token=t", "pkcs11:module=/m.so;token=t;key=k;color=red",
        "pkcs11:module=/m.so;module=/n.so;token=t;key=k", "pkcs11:module=/m.so;token=;key=k",
        "pkcs11:module=/m.so;token=t;key=k;pin-env=1", "FILE:/tmp/x", "default "}) {
    EXPECT_EQ(OpenKek(engine_, bad, &k), KH_E_INVALID_ARGUMENT) << bad;
    EXPECT_EQ(k, 0u);
  }
  const std::string nul_spec = std::string("file:/tmp/a") + '\0';
  EXPECT_EQ(kh_kek_open(engine_, nul_spec.data(), nul_spec.size(), &k), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_kek_open(engine_, nullptr, 4, &k), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_kek_open(engine_, "env:X", 5, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_kek_open(0, "env:X", 5, &k), KH_E_STALE_HANDLE);
  ::unsetenv("KH_TEST_UNSET");
  EXPECT_EQ(OpenKek(engine_, "env:KH_TEST_UNSET", &k), KH_E_KEK_UNAVAILABLE);
  ASSERT_EQ(::setenv("KH_TEST_SHORT", "abcd", 1), 0);
  EXPECT_EQ(OpenKek(engine_, "env:KH_TEST_SHORT", &k), KH_E_INVALID_ARGUMENT);
  ASSERT_EQ(::setenv("KH_TEST_SHORT", (HexKey(1).substr(0, 63) + "g").c_str(), 1), 0);
  EXPECT_EQ(OpenKek(engine_, "env:KH_TEST_SHORT", &k), KH_E_INVALID_ARGUMENT);
  ::unsetenv("KH_TEST_SHORT");
  // A malformed key file is refused, never replaced.
  const std::string bad_key = dir_ / "bad.key";
  WriteBytes(bad_key, {'n', 'o', 't', ' ', 'h', 'e', 'x'});
  EXPECT_EQ(OpenKek(engine_, "file:" + bad_key, &k), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(ReadFile(bad_key), "not hex");
  EXPECT_EQ(OpenKek(engine_, "file:" + dir_ / "no-dir/master.key", &k), KH_E_IO);
  // Upper-case hex and no newline are fine.
  std::string upper = HexKey(9);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  WriteBytes(dir_ / "upper.key", std::vector<uint8_t>(upper.begin(), upper.end()));
  ASSERT_EQ(OpenKek(engine_, "file:" + dir_ / "upper.key", &k), KH_OK);
  Owned(k);
}

TEST_F(KeystoreTest, DefaultKekLivesInKeyholdHome) {
  const std::string home = dir_ / "home";
  // The suite's own KEYHOLD_HOME (a temporary one: tests/audit_test.cc)
  // comes back afterwards, or later engines would audit into ~/.keyhold.
  const char* suite_home = std::getenv("KEYHOLD_HOME");  // NOLINT(concurrency-mt-unsafe)
  const std::string saved = suite_home == nullptr ? "" : suite_home;
  struct Restore {
    const std::string& v;
    ~Restore() {
      if (v.empty()) {
        ::unsetenv("KEYHOLD_HOME");
      } else {
        ::setenv("KEYHOLD_HOME", v.c_str(), 1);
      }
    }
  } restore{saved};
  ASSERT_EQ(::setenv("KEYHOLD_HOME", home.c_str(), 1), 0);
  ::unsetenv("KEYHOLD_KEK");
  kh_handle k = 0;
  ASSERT_EQ(OpenKek(engine_, "default", &k), KH_OK);
  Owned(k);
  EXPECT_EQ(FileMode(home), 0700u);
  EXPECT_EQ(FileMode(home + "/master.key"), 0600u);
  const kh_handle ks = Owned(Generate(KH_ALG_AES256_GCM));
  ASSERT_EQ(Save(ks, k, dir_ / "d.keyset"), KH_OK);
  // The same default next time, and the same key through file:.
  kh_handle again = 0;
  ASSERT_EQ(OpenKek(engine_, "default", &again), KH_OK);
  Owned(again);
  (void)MustLoad(dir_ / "d.keyset", again);
  // KEYHOLD_KEK overrides it.
  ASSERT_EQ(::setenv("KEYHOLD_KEK", ("file:" + dir_ / "master.key").c_str(), 1), 0);
  kh_handle over = 0;
  ASSERT_EQ(OpenKek(engine_, "default", &over), KH_OK);
  Owned(over);
  kh_handle loaded = 0;
  EXPECT_EQ(Load(engine_, over, dir_ / "d.keyset", &loaded), KH_E_AUTH_FAILED);
  ASSERT_EQ(::setenv("KEYHOLD_KEK", "default", 1), 0);
  EXPECT_EQ(OpenKek(engine_, "default", &over), KH_E_INVALID_ARGUMENT);
  ::unsetenv("KEYHOLD_KEK");
}

TEST_F(KeystoreTest, KekHandlesCloseAndTheEngineClosesThem) {
  kh_handle k = 0;
  ASSERT_EQ(OpenKek(engine_, "file:" + dir_ / "k.key", &k), KH_OK);
  EXPECT_EQ(kh_handle_close(k), KH_OK);
  EXPECT_EQ(kh_handle_close(k), KH_E_STALE_HANDLE);
  uint32_t kind = 0;
  EXPECT_EQ(kh_kek_kind_get(k, &kind), KH_E_STALE_HANDLE);
  EXPECT_EQ(kh_kek_kind_get(kek_, nullptr), KH_E_NULL_POINTER);

  kh_handle e = 0, k2 = 0, ks = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  ASSERT_EQ(OpenKek(e, "file:" + dir_ / "k.key", &k2), KH_OK);
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  ASSERT_EQ(Save(ks, k2, dir_ / "e.keyset"), KH_OK);
  kh_engine_stats st{};
  ASSERT_EQ(kh_engine_stats_get(e, &st), KH_OK);
  EXPECT_EQ(st.live_handles, 2u);
  // A keyset keeps using its KEK for reservations after the KEK handle is
  // closed.
  ASSERT_EQ(kh_handle_close(k2), KH_OK);
  std::vector<uint8_t> out(64);
  size_t n = 0;
  EXPECT_EQ(kh_aead_encrypt(ks, kMsg.data(), kMsg.size(), nullptr, 0, out.data(), out.size(), &n), KH_OK);
  ASSERT_EQ(OpenKek(e, "file:" + dir_ / "k.key", &k2), KH_OK);
  ASSERT_EQ(kh_engine_close(e), KH_OK);
  EXPECT_EQ(kh_kek_kind_get(k2, &kind), KH_E_STALE_HANDLE);
}

// ------------------------------------------------ use counts and homes

// CountsTest runs with a small reservation so tests can cross it.
class CountsTest : public KeystoreTest {
 protected:
  static constexpr uint64_t kReservation = 8;
  void SetUp() override {
    ASSERT_EQ(::setenv("KEYHOLD_USE_RESERVATION", "8", 1), 0);
    KeystoreTest::SetUp();
  }
  void TearDown() override {
    KeystoreTest::TearDown();
    ::unsetenv("KEYHOLD_USE_RESERVATION");
  }
  kh_status Encrypt(kh_handle ks) {
    std::vector<uint8_t> out(64);
    size_t n = 0;
    return kh_aead_encrypt(ks, kMsg.data(), kMsg.size(), nullptr, 0, out.data(), out.size(), &n);
  }
  uint64_t StoredCount(const std::string& path, uint32_t key_id) {
    kh_keyset_file_info info{};
    std::vector<kh_key_file_info> keys;
    EXPECT_EQ(FileInfo(path, &info, &keys), KH_OK);
    for (const auto& k : keys) {
      if (k.key_id == key_id) return k.use_count;
    }
    ADD_FAILURE() << "key " << key_id << " not in " << path;
    return 0;
  }
};

TEST_F(CountsTest, TheStoredCountIsNeverBehindUse) {
  const std::string path = dir_ / "counts.keyset";
  const kh_handle ks = Owned(Generate(KH_ALG_AES256_GCM));
  const uint32_t id = KeyInfos(ks)[0].key_id;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Encrypt(ks), KH_OK);
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);
  EXPECT_EQ(StoredCount(path, id), 3u);  // an explicit save: the exact count
  // From now on the file is the keyset's home: at every point, a crash
  // would leave a count at least the number of messages encrypted.
  for (uint64_t used = 4; used <= 60; ++used) {
    ASSERT_EQ(Encrypt(ks), KH_OK);
    ASSERT_EQ(KeyInfos(ks)[0].use_count, used);
    const uint64_t stored = StoredCount(path, id);
    ASSERT_GE(stored, used);
    ASSERT_LE(stored, used + kReservation);
  }
  // A restart starts from the stored count, never below real use.
  const uint64_t stored = StoredCount(path, id);
  const kh_handle loaded = MustLoad(path);
  EXPECT_EQ(KeyInfos(loaded)[0].use_count, stored);
  ASSERT_EQ(Encrypt(loaded), KH_OK);
  EXPECT_EQ(KeyInfos(loaded)[0].use_count, stored + 1);
  EXPECT_GE(StoredCount(path, id), stored + 1);
  // An explicit save gives the unused reservation back.
  ASSERT_EQ(Save(loaded, kek_, path), KH_OK);
  EXPECT_EQ(StoredCount(path, id), stored + 1);
}

TEST_F(CountsTest, UsageLimitHoldsAcrossRestarts) {
  ASSERT_EQ(::setenv("KEYHOLD_AEAD_MAX_MESSAGES", "20", 1), 0);
  kh_handle e = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  ::unsetenv("KEYHOLD_AEAD_MAX_MESSAGES");
  kh_handle k = 0, ks = 0;
  ASSERT_EQ(OpenKek(e, "file:" + dir_ / "master.key", &k), KH_OK);
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  const std::string path = dir_ / "limit.keyset";
  ASSERT_EQ(Save(ks, k, path), KH_OK);
  int made = 0;
  for (int round = 0; round < 10; ++round) {
    // Each "process" makes a few messages and is restarted without a save.
    kh_handle loaded = 0;
    ASSERT_EQ(Load(e, k, path, &loaded), KH_OK);
    for (int i = 0; i < 3; ++i) {
      if (Encrypt(loaded) == KH_OK) ++made;
    }
    ASSERT_EQ(kh_handle_close(loaded), KH_OK);
  }
  // Crashes cost reserved counts but never let a key pass its limit.
  EXPECT_LE(made, 20);
  EXPECT_GE(made, 3);
  kh_handle loaded = 0;
  ASSERT_EQ(Load(e, k, path, &loaded), KH_OK);
  EXPECT_EQ(Encrypt(loaded), KH_E_LIMIT_EXCEEDED);
  ASSERT_EQ(kh_engine_close(e), KH_OK);
  (void)ks;
}

TEST_F(CountsTest, ConcurrentUseRotationAndSavesKeepTheStoredCountAhead) {
  const std::string path = dir_ / "threads.keyset";
  const kh_handle ks = Owned(Generate(KH_ALG_AES256_GCM));
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);
  constexpr int kThreads = 4, kPerThread = 300;
  std::atomic<int> failures{0};
  std::atomic<int> last_failure{KH_OK};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        const kh_status st = Encrypt(ks);
        if (st != KH_OK) {
          ++failures;
          last_failure = st;
        }
      }
    });
  }
  // Explicit saves and rotations race the reservations.
  std::thread saver([&] {
    for (int i = 0; i < 20; ++i) {
      if (Save(ks, kek_, path) != KH_OK) ++failures;
      uint32_t id = 0;
      if (i % 5 == 0 && kh_keyset_rotate(ks, &id) != KH_OK) ++failures;
    }
  });
  for (auto& th : threads) th.join();
  saver.join();
  EXPECT_EQ(failures.load(), 0) << kh_status_name(static_cast<kh_status>(last_failure.load()));
  // Whatever interleaving happened, the file covers every use of every key
  // (the live counts are exact: nothing else uses this keyset).
  uint64_t total = 0;
  for (const auto& k : KeyInfos(ks)) {
    EXPECT_GE(StoredCount(path, k.key_id), k.use_count) << k.key_id;
    total += k.use_count;
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(CountsTest, ANewKeyIsStoredBeforeItsFirstUse) {
  const std::string path = dir_ / "rotate.keyset";
  const kh_handle ks = Owned(Generate(KH_ALG_ED25519));
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);
  uint32_t fresh = 0;
  ASSERT_EQ(kh_keyset_rotate(ks, &fresh), KH_OK);
  kh_keyset_file_info info{};
  std::vector<kh_key_file_info> keys;
  ASSERT_EQ(FileInfo(path, &info, &keys), KH_OK);
  EXPECT_EQ(info.key_count, 1u);  // rotation alone writes nothing
  const std::vector<uint8_t> sig = Probe(ks, KH_ALG_ED25519);
  ASSERT_EQ(FileInfo(path, &info, &keys), KH_OK);
  EXPECT_EQ(info.key_count, 2u);  // signing with the new key stored it first
  EXPECT_EQ(info.primary_key_id, fresh);
  // So a crash now loses nothing: a restart verifies the signature.
  EXPECT_EQ(Check(MustLoad(path), KH_ALG_ED25519, sig), KH_OK);
}

TEST_F(CountsTest, AFailingHomeStopsLimitedUseWithAnIoError) {
  const std::string sub = dir_ / "sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  const std::string path = sub + "/home.keyset";
  const kh_handle ks = Owned(Generate(KH_ALG_CHACHA20_POLY1305));
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);
  ASSERT_EQ(Encrypt(ks), KH_OK);  // reserves up to 1 + 8
  // The home directory disappears: reservations cannot be written, so the
  // key stops at the last stored ceiling rather than running ahead of it.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::rmdir(sub.c_str()), 0);
  int ok = 0;
  kh_status last = KH_OK;
  for (int i = 0; i < 20 && last == KH_OK; ++i) {
    last = Encrypt(ks);
    if (last == KH_OK) ++ok;
  }
  EXPECT_EQ(last, KH_E_IO);
  EXPECT_LE(ok, static_cast<int>(kReservation));
  // Decryption never needs the file.
  std::vector<uint8_t> ct(64), pt(64);
  size_t n = 0, m = 0;
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);  // a save restores the home
  ASSERT_EQ(Save(ks, kek_, path), KH_OK);
  ASSERT_EQ(kh_aead_encrypt(ks, kMsg.data(), kMsg.size(), nullptr, 0, ct.data(), ct.size(), &n), KH_OK);
  EXPECT_EQ(kh_aead_decrypt(ks, ct.data(), n, nullptr, 0, pt.data(), pt.size(), &m), KH_OK);
}

}  // namespace
}  // namespace keyhold
