// Policy enforcement through the C ABI: disabled algorithms refused for
// generate, import and load; deprecated algorithms decrypt/verify only;
// minimum HMAC key sizes; export refused; every refusal counted.
#include <gtest/gtest.h>
#include <keyhold/keyhold.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "keystore_util.h"

namespace keyhold::testing {
namespace {

kh_handle Open() {
  kh_handle e = 0;
  EXPECT_EQ(kh_engine_open(&e), KH_OK);
  return e;
}

nlohmann::json Metrics(kh_handle e) {
  size_t n = 0;
  EXPECT_EQ(kh_engine_metrics_get(e, KH_METRICS_JSON, nullptr, 0, &n), KH_E_BUFFER_TOO_SMALL);
  std::string s(n + 4096, '\0');
  EXPECT_EQ(kh_engine_metrics_get(e, KH_METRICS_JSON, s.data(), s.size(), &n), KH_OK);
  s.resize(n);
  return nlohmann::json::parse(s);
}

uint64_t Refusals(kh_handle e, const char* reason) { return Metrics(e)["policy_refusals"][reason]; }

const char kAllButSivAndX25519[] =
    "AES256_GCM,CHACHA20_POLY1305,XCHACHA20_POLY1305,HMAC_SHA256,HMAC_SHA512,ED25519,"
    "ECDSA_P256_SHA256_DER,ECDSA_P256_SHA256_P1363,HKDF_SHA256,HKDF_SHA512";

TEST(Policy, AFreshInstallRefusesAesSivAndX25519EverywhereAndCountsIt) {
  ScopedEnv defaults("KEYHOLD_POLICY_ENABLED", nullptr);
  const kh_handle e = Open();
  const uint64_t before = Refusals(e, "alg_disabled");
  kh_handle ks = 0;
  EXPECT_EQ(kh_keyset_generate(e, KH_ALG_AES256_SIV, 0, &ks), KH_E_POLICY_DENIED);
  EXPECT_EQ(ks, 0u);
  EXPECT_EQ(kh_keyset_generate(e, KH_ALG_X25519, 0, &ks), KH_E_POLICY_DENIED);
  const std::vector<uint8_t> key(64, 0x42);
  EXPECT_EQ(kh_keyset_import_raw(e, KH_ALG_AES256_SIV, key.data(), 64, &ks), KH_E_POLICY_DENIED);
  EXPECT_EQ(kh_keyset_import_raw(e, KH_ALG_X25519, key.data(), 32, &ks), KH_E_POLICY_DENIED);
  EXPECT_EQ(Refusals(e, "alg_disabled"), before + 4);
  // The modern set works.
  for (kh_alg a : {KH_ALG_AES256_GCM, KH_ALG_ED25519, KH_ALG_HMAC_SHA512, KH_ALG_HKDF_SHA256}) {
    ASSERT_EQ(kh_keyset_generate(e, a, 0, &ks), KH_OK) << kh_alg_name(a);
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
  // An unknown algorithm is still unsupported, not a policy matter.
  EXPECT_EQ(kh_keyset_generate(e, static_cast<kh_alg>(999), 0, &ks), KH_E_UNSUPPORTED);
  EXPECT_EQ(kh_engine_close(e), KH_OK);
}

TEST(Policy, AKeysetOfADisabledAlgorithmDoesNotLoad) {
  TempDir dir;
  const std::string path = dir / "ed.keyset";
  {
    const kh_handle e = Open();
    kh_handle kek = 0, ks = 0;
    ASSERT_EQ(OpenKek(e, "file:" + dir / "kek", &kek), KH_OK);
    ASSERT_EQ(kh_keyset_generate(e, KH_ALG_ED25519, 0, &ks), KH_OK);
    ASSERT_EQ(Save(ks, kek, path), KH_OK);
    EXPECT_EQ(kh_engine_close(e), KH_OK);
  }
  ScopedEnv only_gcm("KEYHOLD_POLICY_ENABLED", "AES256_GCM");
  const kh_handle e = Open();
  kh_handle kek = 0, ks = 0;
  ASSERT_EQ(OpenKek(e, "file:" + dir / "kek", &kek), KH_OK);
  EXPECT_EQ(Load(e, kek, path, &ks), KH_E_POLICY_DENIED);
  EXPECT_EQ(ks, 0u);
  kh_engine_stats st{};
  ASSERT_EQ(kh_engine_stats_get(e, &st), KH_OK);
  EXPECT_EQ(st.live_handles, 1u);  // the KEK only: the refused keyset is gone
  EXPECT_EQ(kh_engine_close(e), KH_OK);
}

TEST(Policy, ADeprecatedAlgorithmDecryptsAndVerifiesButNeverProduces) {
  // Material made while the algorithms were enabled.
  const kh_handle full = Open();
  const std::vector<uint8_t> hmac_key(32, 0x5a);
  kh_handle mac_full = 0, gcm = 0;
  ASSERT_EQ(kh_keyset_import_raw(full, KH_ALG_HMAC_SHA256, hmac_key.data(), hmac_key.size(), &mac_full),
            KH_OK);
  const std::vector<uint8_t> msg = {'h', 'i'};
  uint8_t tag[32];
  size_t tag_len = 0;
  ASSERT_EQ(kh_mac_compute(mac_full, msg.data(), msg.size(), tag, sizeof tag, &tag_len), KH_OK);
  TempDir dir;
  kh_handle kek = 0;
  ASSERT_EQ(OpenKek(full, "file:" + dir / "kek", &kek), KH_OK);
  ASSERT_EQ(kh_keyset_generate(full, KH_ALG_AES256_GCM, 0, &gcm), KH_OK);
  uint8_t ct[128];
  size_t ct_len = 0;
  ASSERT_EQ(kh_aead_encrypt(gcm, msg.data(), msg.size(), nullptr, 0, ct, sizeof ct, &ct_len), KH_OK);
  ASSERT_EQ(Save(gcm, kek, dir / "gcm.keyset"), KH_OK);

  ScopedEnv enabled("KEYHOLD_POLICY_ENABLED", "ED25519,HKDF_SHA256");
  ScopedEnv deprecated("KEYHOLD_POLICY_DEPRECATED", "HMAC_SHA256,AES256_GCM");
  const kh_handle e = Open();
  const uint64_t before = Refusals(e, "alg_deprecated");
  kh_handle ks = 0;
  EXPECT_EQ(kh_keyset_generate(e, KH_ALG_HMAC_SHA256, 0, &ks), KH_E_POLICY_DENIED);
  kh_handle mac = 0;
  ASSERT_EQ(kh_keyset_import_raw(e, KH_ALG_HMAC_SHA256, hmac_key.data(), hmac_key.size(), &mac), KH_OK);
  uint8_t out[64];
  size_t out_len = 99;
  EXPECT_EQ(kh_mac_compute(mac, msg.data(), msg.size(), out, sizeof out, &out_len), KH_E_POLICY_DENIED);
  EXPECT_EQ(out_len, 0u);
  EXPECT_EQ(kh_mac_verify(mac, msg.data(), msg.size(), tag, tag_len), KH_OK);

  kh_handle kek2 = 0, old = 0;
  ASSERT_EQ(OpenKek(e, "file:" + dir / "kek", &kek2), KH_OK);
  ASSERT_EQ(Load(e, kek2, dir / "gcm.keyset", &old), KH_OK);
  EXPECT_EQ(kh_aead_decrypt(old, ct, ct_len, nullptr, 0, out, sizeof out, &out_len), KH_OK);
  EXPECT_EQ(kh_aead_encrypt(old, msg.data(), msg.size(), nullptr, 0, out, sizeof out, &out_len),
            KH_E_POLICY_DENIED);
  uint32_t new_id = 0;
  EXPECT_EQ(kh_keyset_rotate(old, &new_id), KH_E_POLICY_DENIED);
  // Batches apply the same rule per item.
  kh_batch_item items[2] = {};
  items[0].op = KH_OP_AEAD_ENCRYPT;
  items[0].keyset = old;
  items[0].in = msg.data();
  items[0].in_len = msg.size();
  items[0].out = out;
  items[0].out_cap = sizeof out;
  items[1].op = KH_OP_AEAD_DECRYPT;
  items[1].keyset = old;
  items[1].in = ct;
  items[1].in_len = ct_len;
  items[1].out = out;
  items[1].out_cap = sizeof out;
  size_t failed = 0;
  ASSERT_EQ(kh_batch(items, 2, &failed), KH_OK);
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(items[0].status, KH_E_POLICY_DENIED);
  EXPECT_EQ(items[1].status, KH_OK);
  EXPECT_EQ(Refusals(e, "alg_deprecated"), before + 5);

  EXPECT_EQ(kh_engine_close(e), KH_OK);
  EXPECT_EQ(kh_engine_close(full), KH_OK);
}

TEST(Policy, ShortHmacKeysAreRefusedAtTheConfiguredFloor) {
  ScopedEnv floor("KEYHOLD_POLICY_MIN_HMAC_KEY_BYTES", "32");
  const kh_handle e = Open();
  const uint64_t before = Refusals(e, "key_too_short");
  const std::vector<uint8_t> key(31, 1);
  kh_handle ks = 0;
  EXPECT_EQ(kh_keyset_import_raw(e, KH_ALG_HMAC_SHA256, key.data(), key.size(), &ks), KH_E_POLICY_DENIED);
  EXPECT_EQ(kh_keyset_import_raw(e, KH_ALG_HMAC_SHA512, key.data(), key.size(), &ks), KH_E_POLICY_DENIED);
  const std::vector<uint8_t> ok(32, 1);
  ASSERT_EQ(kh_keyset_import_raw(e, KH_ALG_HMAC_SHA256, ok.data(), ok.size(), &ks), KH_OK);
  EXPECT_EQ(Refusals(e, "key_too_short"), before + 2);
  EXPECT_EQ(kh_engine_close(e), KH_OK);
}

TEST(Policy, ExportCanBeForbiddenOutright) {
  ScopedEnv no_export("KEYHOLD_POLICY_ALLOW_EXPORT", "false");
  const kh_handle e = Open();
  TempDir dir;
  kh_handle kek = 0, other = 0, ks = 0;
  ASSERT_EQ(OpenKek(e, "file:" + dir / "kek", &kek), KH_OK);
  ASSERT_EQ(OpenKek(e, "file:" + dir / "other", &other), KH_OK);
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_AES256_GCM, KH_KEYSET_EXPORTABLE, &ks), KH_OK);
  const uint64_t before = Refusals(e, "export_forbidden");
  size_t n = 0;
  EXPECT_EQ(kh_keyset_export_wrapped(ks, other, nullptr, 0, &n), KH_E_POLICY_DENIED);
  // Saving under its own KEK is no export; under another it is.
  ASSERT_EQ(Save(ks, kek, dir / "a.keyset"), KH_OK);
  EXPECT_EQ(Save(ks, other, dir / "b.keyset"), KH_E_POLICY_DENIED);
  EXPECT_EQ(Refusals(e, "export_forbidden"), before + 2);
  EXPECT_EQ(kh_engine_close(e), KH_OK);

  ScopedEnv allowed("KEYHOLD_POLICY_ALLOW_EXPORT", "true");
  const kh_handle e2 = Open();
  ASSERT_EQ(OpenKek(e2, "file:" + dir / "other", &other), KH_OK);
  ASSERT_EQ(kh_keyset_generate(e2, KH_ALG_AES256_GCM, KH_KEYSET_EXPORTABLE, &ks), KH_OK);
  EXPECT_EQ(kh_keyset_export_wrapped(ks, other, nullptr, 0, &n), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(kh_engine_close(e2), KH_OK);
}

}  // namespace
}  // namespace keyhold::testing
