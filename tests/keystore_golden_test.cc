// Golden keyset files (docs/spec/keyset.md), generated independently by
// scripts/gen-keyset-golden.py. Every file must load with its KEK, report
// exactly its metadata, and hold keys that reproduce or check the output
// made with them; every invalid file must give its status. A golden file
// that stops loading means the format changed: a compatibility break.
#include <nlohmann/json.hpp>

#include "keystore_util.h"

namespace keyhold {
namespace {

using testing::FileInfo;
using testing::Hex;
using testing::KeyInfos;
using testing::Load;
using testing::OpenKek;
using testing::ReadFile;
using testing::Save;
using testing::TempDir;
using testing::WriteBytes;

nlohmann::json Golden() {
  return nlohmann::json::parse(ReadFile(KEYHOLD_TESTDATA_DIR "/golden/keyset_v1.json"));
}

kh_status StatusByName(const std::string& name) {
  for (int s = 0; s < 64; ++s) {
    if (name == kh_status_name(static_cast<kh_status>(s))) return static_cast<kh_status>(s);
  }
  ADD_FAILURE() << "unknown status " << name;
  return KH_E_INTERNAL;
}

uint32_t StatusNumber(const std::string& s) {
  if (s == "enabled") return KH_KEY_ENABLED;
  if (s == "disabled") return KH_KEY_DISABLED;
  return KH_KEY_DESTROYED;
}

class KeystoreGolden : public testing::EngineFixture {
 protected:
  // KekFor opens the vector's KEK the way its metadata says it was stored.
  kh_handle KekFor(const nlohmann::json& v, const std::string& name) {
    const std::string kek_hex = v["kek"];
    std::string spec;
    if (v.value("kek_kind", "file") == "env") {
      ::setenv("KH_GOLDEN_KEK", kek_hex.c_str(), 1);
      spec = "env:KH_GOLDEN_KEK";
    } else {
      WriteBytes(dir_ / (name + ".key"), std::vector<uint8_t>(kek_hex.begin(), kek_hex.end()));
      spec = "file:" + dir_ / (name + ".key");
    }
    kh_handle kek = 0;
    EXPECT_EQ(OpenKek(engine_, spec, &kek), KH_OK) << spec;
    return kek;
  }
  TempDir dir_;
};

// CheckOutput runs the vector's check against the loaded keyset.
void CheckOutput(kh_handle ks, const nlohmann::json& c) {
  const std::string kind = c["kind"];
  const auto msg = Hex(c["msg"]), aad = Hex(c["aad"]), want = Hex(c["output"]);
  std::vector<uint8_t> out(want.size() + 128);
  size_t n = 0;
  if (kind == "aead_decrypt") {
    ASSERT_EQ(
        kh_aead_decrypt(ks, want.data(), want.size(), aad.data(), aad.size(), out.data(), out.size(), &n),
        KH_OK);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), msg);
  } else if (kind == "daead_encrypt") {
    ASSERT_EQ(
        kh_daead_encrypt(ks, msg.data(), msg.size(), aad.data(), aad.size(), out.data(), out.size(), &n),
        KH_OK);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), want);
  } else if (kind == "mac_compute") {
    ASSERT_EQ(kh_mac_compute(ks, msg.data(), msg.size(), out.data(), out.size(), &n), KH_OK);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), want);
    EXPECT_EQ(kh_mac_verify(ks, msg.data(), msg.size(), want.data(), want.size()), KH_OK);
  } else if (kind == "sig_sign") {
    ASSERT_EQ(kh_sig_sign(ks, msg.data(), msg.size(), out.data(), out.size(), &n), KH_OK);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), want);
    EXPECT_EQ(kh_sig_verify(ks, msg.data(), msg.size(), want.data(), want.size()), KH_OK);
  } else if (kind == "sig_verify") {
    EXPECT_EQ(kh_sig_verify(ks, msg.data(), msg.size(), want.data(), want.size()), KH_OK);
  } else if (kind == "public_key") {
    ASSERT_EQ(kh_keyset_public_key(ks, 0, KH_PUBKEY_RAW, out.data(), out.size(), &n), KH_OK);
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), want);
  } else if (kind == "kdf_derive") {
    out.resize(want.size());
    ASSERT_EQ(kh_kdf_derive(ks, aad.data(), aad.size(), msg.data(), msg.size(), out.data(), out.size()),
              KH_OK);
    EXPECT_EQ(out, want);
  } else {
    ADD_FAILURE() << "unknown check " << kind;
  }
}

void ExpectMetadata(const nlohmann::json& v, const kh_keyset_file_info& info,
                    const std::vector<kh_key_file_info>& keys) {
  EXPECT_EQ(info.version, 1u);
  EXPECT_STREQ(kh_alg_name(static_cast<kh_alg>(info.alg)), v["alg"].get<std::string>().c_str());
  EXPECT_EQ(info.flags, v["flags"].get<uint32_t>());
  EXPECT_EQ(info.kek_kind, static_cast<uint32_t>(v["kek_kind"] == "env" ? KH_KEK_ENV : KH_KEK_FILE));
  EXPECT_EQ(info.primary_key_id, v["primary"].get<uint32_t>());
  EXPECT_EQ(std::vector<uint8_t>(info.keyset_id, info.keyset_id + 16), Hex(v["keyset_id"]));
  ASSERT_EQ(keys.size(), v["keys"].size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& k = v["keys"][i];
    EXPECT_EQ(keys[i].key_id, k["id"].get<uint32_t>());
    EXPECT_EQ(keys[i].status, StatusNumber(k["status"]));
    EXPECT_EQ(keys[i].created, k["created"].get<uint64_t>());
    EXPECT_EQ(keys[i].use_count, k["use_count"].get<uint64_t>());
  }
}

TEST_F(KeystoreGolden, EveryGoldenFileLoadsReportsItsMetadataAndHoldsItsKeys) {
  const auto doc = Golden();
  ASSERT_EQ(doc["format_version"], 1);
  ASSERT_GE(doc["vectors"].size(), 12u);
  for (const auto& v : doc["vectors"]) {
    const std::string name = v["name"];
    SCOPED_TRACE(name);
    const std::string path = dir_ / (name + ".keyset");
    const std::vector<uint8_t> file = Hex(v["file"]);
    WriteBytes(path, file);
    kh_keyset_file_info info{};
    std::vector<kh_key_file_info> keys;
    ASSERT_EQ(FileInfo(path, &info, &keys), KH_OK);
    ExpectMetadata(v, info, keys);

    const kh_handle kek = KekFor(v, name);
    kh_handle ks = 0;
    ASSERT_EQ(Load(engine_, kek, path, &ks), KH_OK);
    kh_keyset_info ki{};
    ASSERT_EQ(kh_keyset_info_get(ks, &ki), KH_OK);
    EXPECT_EQ(ki.flags, v["flags"].get<uint32_t>());
    EXPECT_EQ(ki.primary_key_id, v["primary"].get<uint32_t>());
    const auto live = KeyInfos(ks);
    ASSERT_EQ(live.size(), v["keys"].size());
    for (size_t i = 0; i < live.size(); ++i) {
      EXPECT_EQ(live[i].key_id, v["keys"][i]["id"].get<uint32_t>());
      EXPECT_EQ(live[i].status, StatusNumber(v["keys"][i]["status"]));
      EXPECT_EQ(live[i].use_count, v["keys"][i]["use_count"].get<uint64_t>());
    }
    CheckOutput(ks, v["check"]);

    // The same bytes import as a wrapped export, and a save keeps the
    // keyset id, ids, states and creation times.
    kh_handle imported = 0;
    ASSERT_EQ(kh_keyset_import_wrapped(engine_, kek, file.data(), file.size(), &imported), KH_OK);
    CheckOutput(imported, v["check"]);
    const std::string again = dir_ / (name + ".again");
    ASSERT_EQ(Save(imported, kek, again), KH_OK);
    std::vector<kh_key_file_info> keys2;
    kh_keyset_file_info info2{};
    ASSERT_EQ(FileInfo(again, &info2, &keys2), KH_OK);
    EXPECT_EQ(std::vector<uint8_t>(info2.keyset_id, info2.keyset_id + 16), Hex(v["keyset_id"]));
    ASSERT_EQ(keys2.size(), keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_EQ(keys2[i].key_id, keys[i].key_id);
      EXPECT_EQ(keys2[i].status, keys[i].status);
      EXPECT_EQ(keys2[i].created, keys[i].created);
      EXPECT_GE(keys2[i].use_count, keys[i].use_count);
    }
    EXPECT_EQ(kh_handle_close(imported), KH_OK);
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
    EXPECT_EQ(kh_handle_close(kek), KH_OK);
  }
  ::unsetenv("KH_GOLDEN_KEK");
}

TEST_F(KeystoreGolden, EveryInvalidGoldenFileGivesItsStatus) {
  const auto doc = Golden();
  ASSERT_GE(doc["invalid"].size(), 17u);
  for (const auto& v : doc["invalid"]) {
    const std::string name = v["name"];
    SCOPED_TRACE(name);
    const kh_status want = StatusByName(v["status"]);
    const std::vector<uint8_t> file = Hex(v["file"]);
    const kh_handle kek = KekFor(v, name);
    kh_handle ks = 0;
    EXPECT_EQ(kh_keyset_import_wrapped(engine_, kek, file.data(), file.size(), &ks), want);
    EXPECT_EQ(ks, 0u);
    const std::string path = dir_ / (name + ".keyset");
    WriteBytes(path, file);
    EXPECT_EQ(Load(engine_, kek, path, &ks), want);
    // Without a KEK only the structure is checked.
    kh_keyset_file_info info{};
    std::vector<kh_key_file_info> keys;
    EXPECT_EQ(FileInfo(path, &info, &keys), want == KH_E_AUTH_FAILED ? KH_OK : want);
    EXPECT_EQ(kh_handle_close(kek), KH_OK);
  }
}

}  // namespace
}  // namespace keyhold
