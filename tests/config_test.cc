// The configuration loader (src/config/): defaults, precedence, unknown
// keys, every malformed case, contradictions, and the engine refusing to
// open half-configured.
#include "config/config.h"

#include <gtest/gtest.h>
#include <keyhold/keyhold.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "keystore_util.h"

namespace keyhold::config {
namespace {

struct FakeEnv {
  std::map<std::string, std::string> vars;
  Getenv get() const {
    return [this](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string Load(const FakeEnv& env, const std::string& toml, Config* c) {
  std::string err;
  const Status s = LoadFromText(env.get(), toml, "test.toml", c, &err);
  if (s.ok()) return "";
  EXPECT_FALSE(err.empty());
  return err.empty() ? "(no message)" : err;
}

const Config::Entry& EntryOf(const Config& c, const std::string& key) {
  for (const auto& e : c.entries) {
    if (e.key == key) return e;
  }
  static Config::Entry none;
  ADD_FAILURE() << "no entry " << key;
  return none;
}

bool Enabled(const Config& c, kh_alg a) { return c.policy.enabled.test(static_cast<uint32_t>(a)); }

TEST(Config, DefaultsEnableOnlyTheModernSet) {
  FakeEnv env;
  env.vars["HOME"] = "/home/u";
  Config c;
  std::string err;
  ASSERT_TRUE(config::Load(env.get(), &c, &err).ok()) << err;
  for (kh_alg a : {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305, KH_ALG_HMAC_SHA256,
                   KH_ALG_HMAC_SHA512, KH_ALG_ED25519, KH_ALG_ECDSA_P256_SHA256_DER,
                   KH_ALG_ECDSA_P256_SHA256_P1363, KH_ALG_HKDF_SHA256, KH_ALG_HKDF_SHA512}) {
    EXPECT_TRUE(Enabled(c, a)) << kh_alg_name(a);
  }
  EXPECT_FALSE(Enabled(c, KH_ALG_AES256_SIV));
  EXPECT_FALSE(Enabled(c, KH_ALG_X25519));
  EXPECT_TRUE(c.policy.deprecated.none());
  EXPECT_TRUE(c.policy.allow_export);
  EXPECT_EQ(c.policy.min_hmac_key_bytes, 16u);
  EXPECT_EQ(c.home, "/home/u/.keyhold");
  for (const auto& e : c.entries) EXPECT_EQ(e.source, Source::kDefault) << e.key;
}

TEST(Config, EnvironmentOverridesTheFileAndSourcesAreReported) {
  FakeEnv env;
  env.vars["KEYHOLD_AEAD_MAX_MESSAGES"] = "500";
  Config c;
  ASSERT_EQ(Load(env,
                 "[engine]\naead_max_messages = 1000\nuse_reservation = 100\n"
                 "[policy]\nenabled = [\"aes256_gcm\", \"X25519\"]\ndeprecated = [\"HMAC_SHA256\"]\n"
                 "allow_export = false\n",
                 &c),
            "");
  EXPECT_EQ(c.aead_max_messages, 500u);
  EXPECT_EQ(EntryOf(c, "engine.aead_max_messages").source, Source::kEnv);
  EXPECT_EQ(c.use_reservation, 100u);
  EXPECT_EQ(EntryOf(c, "engine.use_reservation").source, Source::kFile);
  EXPECT_TRUE(Enabled(c, KH_ALG_X25519));
  EXPECT_FALSE(Enabled(c, KH_ALG_ED25519));
  EXPECT_TRUE(c.policy.deprecated.test(KH_ALG_HMAC_SHA256));
  EXPECT_FALSE(c.policy.allow_export);
  EXPECT_EQ(EntryOf(c, "metrics.enabled").source, Source::kDefault);

  const auto j = nlohmann::json::parse(ToJson(c));
  EXPECT_EQ(j["file"], "test.toml");
  bool seen = false;
  for (const auto& s : j["settings"]) {
    if (s["key"] == "policy.enabled") {
      EXPECT_EQ(s["env"], "KEYHOLD_POLICY_ENABLED");
      EXPECT_EQ(s["source"], "file");
      EXPECT_EQ(s["value"], nlohmann::json::array({"AES256_GCM", "X25519"}));
      seen = true;
    }
    if (s["key"] == "engine.aead_max_messages") {
      EXPECT_EQ(s["value"], 500);
    }
  }
  EXPECT_TRUE(seen);
}

TEST(Config, EnvironmentListsReplaceTheFileList) {
  FakeEnv env;
  env.vars["KEYHOLD_POLICY_ENABLED"] = " ED25519 , hkdf_sha256,";
  Config c;
  ASSERT_EQ(Load(env, "[policy]\nenabled = [\"AES256_GCM\"]\n", &c), "");
  EXPECT_TRUE(Enabled(c, KH_ALG_ED25519));
  EXPECT_TRUE(Enabled(c, KH_ALG_HKDF_SHA256));
  EXPECT_FALSE(Enabled(c, KH_ALG_AES256_GCM));
}

TEST(Config, TheDaemonTableIsAcceptedAndIgnored) {
  FakeEnv env;
  Config c;
  EXPECT_EQ(Load(env, "[daemon]\nsocket = \"/run/keyhold.sock\"\n[daemon.acl]\nuids = [0, 1000]\n", &c), "");
  EXPECT_NE(Load(env, "daemon = 3\n", &c), "");
}

struct Bad {
  const char* what;
  std::map<std::string, std::string> env;
  const char* toml;
  const char* must_name;  // the variable or key the message must name
};

TEST(Config, EveryMalformedValueIsRefusedNamingItsSource) {
  const Bad cases[] = {
      {"count with junk", {{"KEYHOLD_AEAD_MAX_MESSAGES", "12x"}}, "", "KEYHOLD_AEAD_MAX_MESSAGES"},
      {"negative count", {{"KEYHOLD_AEAD_MAX_MESSAGES", "-1"}}, "", "KEYHOLD_AEAD_MAX_MESSAGES"},
      {"zero count", {{"KEYHOLD_USE_RESERVATION", "0"}}, "", "KEYHOLD_USE_RESERVATION"},
      {"overflowing count",
       {{"KEYHOLD_USE_RESERVATION", "99999999999999999999999"}},
       "",
       "KEYHOLD_USE_RESERVATION"},
      {"unknown backend", {{"KEYHOLD_AESGCM_BACKEND", "fast"}}, "", "KEYHOLD_AESGCM_BACKEND"},
      {"relative home", {{"KEYHOLD_HOME", "keys"}}, "", "KEYHOLD_HOME"},
      {"unknown algorithm", {{"KEYHOLD_POLICY_ENABLED", "AES256_GCM,AES128_CBC"}}, "", "AES128_CBC"},
      {"unknown deprecated algorithm",
       {{"KEYHOLD_POLICY_DEPRECATED", "DES"}},
       "",
       "KEYHOLD_POLICY_DEPRECATED"},
      {"bad boolean", {{"KEYHOLD_POLICY_ALLOW_EXPORT", "maybe"}}, "", "KEYHOLD_POLICY_ALLOW_EXPORT"},
      {"short hmac floor",
       {{"KEYHOLD_POLICY_MIN_HMAC_KEY_BYTES", "8"}},
       "",
       "KEYHOLD_POLICY_MIN_HMAC_KEY_BYTES"},
      {"audit failure mode", {{"KEYHOLD_AUDIT_FAILURE", "sometimes"}}, "", "KEYHOLD_AUDIT_FAILURE"},
      {"audit interval", {{"KEYHOLD_AUDIT_INTERVAL_MS", "5"}}, "", "KEYHOLD_AUDIT_INTERVAL_MS"},
      {"audit max bytes", {{"KEYHOLD_AUDIT_MAX_BYTES", "100"}}, "", "KEYHOLD_AUDIT_MAX_BYTES"},
      {"relative audit file", {{"KEYHOLD_AUDIT_FILE", "audit.log"}}, "", "KEYHOLD_AUDIT_FILE"},
      {"latency sample", {{"KEYHOLD_METRICS_LATENCY_SAMPLE", "3"}}, "", "KEYHOLD_METRICS_LATENCY_SAMPLE"},
      {"string for a count", {}, "[engine]\naead_max_messages = \"10\"\n", "engine.aead_max_messages"},
      {"float for a count", {}, "[engine]\nuse_reservation = 1.5\n", "engine.use_reservation"},
      {"string for a list", {}, "[policy]\nenabled = \"AES256_GCM\"\n", "policy.enabled"},
      {"number in a list", {}, "[policy]\nenabled = [\"AES256_GCM\", 3]\n", "policy.enabled"},
      {"unknown algorithm in file", {}, "[policy]\ndeprecated = [\"RC4\"]\n", "RC4"},
      {"string for a bool", {}, "[metrics]\nenabled = \"yes\"\n", "metrics.enabled"},
      {"unknown table", {}, "[polcy]\nenabled = []\n", "polcy"},
      {"unknown key", {}, "[policy]\nenable = [\"AES256_GCM\"]\n", "enable"},
      {"unknown top-level key", {}, "verbose = true\n", "verbose"},
      {"table that is a value", {}, "policy = 1\n", "policy"},
      {"syntax error", {}, "[engine]\naead_max_messages = = 3\n", "test.toml:2"},
      {"enabled and deprecated",
       {},
       "[policy]\nenabled = [\"AES256_GCM\"]\ndeprecated = [\"aes256_gcm\"]\n",
       "AES256_GCM"},
      {"nothing enabled", {{"KEYHOLD_POLICY_ENABLED", ","}}, "", "KEYHOLD_POLICY_ENABLED"},
      {"limit above the algorithm's",
       {{"KEYHOLD_AEAD_MAX_MESSAGES", "4294967297"}},
       "",
       "KEYHOLD_AEAD_MAX_MESSAGES"},
      {"reservation past the limit",
       {{"KEYHOLD_USE_RESERVATION", "1000"}},
       "[engine]\naead_max_messages = 10\n",
       "KEYHOLD_USE_RESERVATION"},
      {"syslog without audit",
       {{"KEYHOLD_AUDIT", "off"}, {"KEYHOLD_AUDIT_SYSLOG", "on"}},
       "",
       "KEYHOLD_AUDIT_SYSLOG"},
      {"audit with no sink", {{"KEYHOLD_AUDIT_FILE", "off"}}, "", "KEYHOLD_AUDIT_FILE"},
      {"latency without metrics",
       {},
       "[metrics]\nenabled = false\nlatency_sample = 8\n",
       "metrics.latency_sample"},
  };
  for (const Bad& b : cases) {
    FakeEnv env;
    env.vars = b.env;
    Config c;
    const std::string err = Load(env, b.toml, &c);
    EXPECT_NE(err, "") << b.what;
    EXPECT_NE(err.find(b.must_name), std::string::npos) << b.what << ": " << err;
  }
}

TEST(Config, ErrorsShowNoLongOrBinaryValue) {
  // A key pasted into the wrong variable must not reach a log through the
  // error: long or non-name values are described by their length only.
  const std::string hex_key(64, 'a');
  const std::string binary("ab\x01\xff", 4);
  for (const std::string& v : {hex_key, binary}) {
    FakeEnv env;
    env.vars["KEYHOLD_POLICY_ENABLED"] = v;
    Config c;
    const std::string err = Load(env, "", &c);
    EXPECT_NE(err.find("KEYHOLD_POLICY_ENABLED"), std::string::npos) << err;
    EXPECT_EQ(err.find(v), std::string::npos) << err;
    EXPECT_NE(err.find(std::to_string(v.size()) + " characters"), std::string::npos) << err;
  }
  FakeEnv env;
  env.vars["KEYHOLD_AESGCM_BACKEND"] = "fastest";
  Config c;
  EXPECT_NE(Load(env, "", &c).find("\"fastest\""), std::string::npos);
}

using testing::ScopedEnv;

std::string LastError() {
  size_t n = 0;
  const kh_status probe = kh_config_last_error(nullptr, 0, &n);
  EXPECT_EQ(probe, n == 0 ? KH_OK : KH_E_BUFFER_TOO_SMALL);
  std::string s(n, '\0');
  if (n != 0) {
    EXPECT_EQ(kh_config_last_error(s.data(), s.size(), &n), KH_OK);
  }
  return s;
}

TEST(ConfigAbi, AMalformedSettingStopsTheEngineAndNamesTheVariable) {
  ScopedEnv bad("KEYHOLD_POLICY_DEPRECATED", "ED25519,NOPE");
  kh_handle e = 7;
  EXPECT_EQ(kh_engine_open(&e), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(e, 0u);
  const std::string err = LastError();
  EXPECT_NE(err.find("KEYHOLD_POLICY_DEPRECATED"), std::string::npos) << err;
  EXPECT_NE(err.find("NOPE"), std::string::npos) << err;
}

TEST(ConfigAbi, TheFileIsReadAndAMissingFileIsAnIoError) {
  testing::TempDir dir;
  const std::string path = dir / "keyhold.toml";
  testing::WriteBytes(path, {});
  {
    std::string text = "[engine]\nuse_reservation = 77\n[policy]\nallow_export = false\n";
    testing::WriteBytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  }
  {
    ScopedEnv cfg("KEYHOLD_CONFIG", path.c_str());
    kh_handle e = 0;
    ASSERT_EQ(kh_engine_open(&e), KH_OK) << LastError();
    EXPECT_EQ(LastError(), "");
    size_t n = 0;
    ASSERT_EQ(kh_engine_config_get(e, nullptr, 0, &n), KH_E_BUFFER_TOO_SMALL);
    std::string json(n, '\0');
    ASSERT_EQ(kh_engine_config_get(e, json.data(), json.size(), &n), KH_OK);
    const auto j = nlohmann::json::parse(json);
    EXPECT_EQ(j["file"], path);
    for (const auto& s : j["settings"]) {
      if (s["key"] == "engine.use_reservation") {
        EXPECT_EQ(s["value"], 77);
        EXPECT_EQ(s["source"], "file");
      }
    }
    EXPECT_EQ(kh_engine_close(e), KH_OK);
  }
  ScopedEnv missing("KEYHOLD_CONFIG", (dir / "absent.toml").c_str());
  kh_handle e = 0;
  EXPECT_EQ(kh_engine_open(&e), KH_E_IO);
  EXPECT_NE(LastError().find("KEYHOLD_CONFIG"), std::string::npos);
}

TEST(ConfigAbi, TheDefaultKekLivesInTheConfiguredHome) {
  testing::TempDir dir;
  const std::string path = dir / "keyhold.toml";
  const std::string text = "[engine]\nhome = \"" + dir.path() + "/from-file\"\n";
  testing::WriteBytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  ScopedEnv cfg("KEYHOLD_CONFIG", path.c_str());
  ScopedEnv no_home("KEYHOLD_HOME", nullptr);
  ScopedEnv no_kek("KEYHOLD_KEK", nullptr);
  kh_handle e = 0, kek = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK) << LastError();
  ASSERT_EQ(testing::OpenKek(e, "default", &kek), KH_OK);
  EXPECT_EQ(testing::FileMode(dir / "from-file/master.key"), 0600u);
  EXPECT_EQ(kh_engine_close(e), KH_OK);
}

}  // namespace
}  // namespace keyhold::config
