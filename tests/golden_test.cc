// Golden vectors of every version-1 output format (docs/spec/formats.md),
// generated independently by scripts/gen-golden-vectors.py. A vector that
// stops decoding means a format changed: that is a compatibility break.
#include <cstring>
#include <nlohmann/json.hpp>

#include "keyset/keyset.h"
#include "test_util.h"

namespace keyhold {
namespace {

using keyhold::testing::Hex;
using keyhold::testing::ReadFile;

struct Golden {
  std::string kind, alg, name;
  std::vector<uint8_t> key, msg, aad, output;
  uint32_t key_id;
  bool deterministic;
};

std::vector<Golden> Load() {
  auto doc = nlohmann::json::parse(ReadFile(KEYHOLD_TESTDATA_DIR "/golden/formats_v1.json"));
  std::vector<Golden> out;
  for (const auto& v : doc["vectors"]) {
    out.push_back({v["kind"], v["alg"], v["name"], Hex(v["key"]), Hex(v["msg"]), Hex(v["aad"]),
                   Hex(v["output"]), v["key_id"].get<uint32_t>(), v["deterministic"].get<bool>()});
  }
  return out;
}

kh_alg AlgByName(const std::string& name) {
  for (uint32_t a = 1; a < 256; ++a) {
    const char* n = kh_alg_name(static_cast<kh_alg>(a));
    if (n != nullptr && name == n) return static_cast<kh_alg>(a);
  }
  ADD_FAILURE() << "unknown alg " << name;
  return KH_ALG_AES256_GCM;
}

std::unique_ptr<keyset::Keyset> Restore(const Golden& g) {
  keyset::Keyset::RestoredKey k{g.key_id, KH_KEY_ENABLED, g.key, 0};
  auto ks = keyset::Keyset::Restore(AlgByName(g.alg), 0, std::span(&k, 1), g.key_id, 0);
  EXPECT_TRUE(ks.ok()) << g.alg << " " << g.name;
  return ks.ok() ? std::move(ks).value() : nullptr;
}

TEST(Golden, EveryFormatDecodesAndDeterministicOnesReencode) {
  const auto vectors = Load();
  ASSERT_GE(vectors.size(), 27u);
  int checked = 0;
  for (const Golden& g : vectors) {
    SCOPED_TRACE(g.alg + "/" + g.name);
    auto ks = Restore(g);
    ASSERT_NE(ks, nullptr);
    std::vector<uint8_t> out(g.output.size() + 128);
    size_t n = 0;
    if (g.kind == "aead" || g.kind == "daead") {
      auto dec = g.kind == "aead" ? &keyset::Keyset::AeadDecrypt : &keyset::Keyset::DaeadDecrypt;
      ASSERT_EQ(((*ks).*dec)(g.output, g.aad, {out.data(), out.size(), &n}).code(), KH_OK);
      EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), g.msg);
      if (g.deterministic) {
        ASSERT_EQ(ks->DaeadEncrypt(g.msg, g.aad, {out.data(), out.size(), &n}).code(), KH_OK);
        EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), g.output);
      }
    } else if (g.kind == "mac") {
      EXPECT_EQ(ks->MacVerify(g.msg, g.output).code(), KH_OK);
      ASSERT_EQ(ks->MacCompute(g.msg, {out.data(), out.size(), &n}).code(), KH_OK);
      EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), g.output);
    } else if (g.kind == "sig") {
      EXPECT_EQ(ks->SigVerify(g.msg, g.output).code(), KH_OK);
      if (g.alg == "ED25519") {
        ASSERT_EQ(ks->SigSign(g.msg, {out.data(), out.size(), &n}).code(), KH_OK);
        EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), g.output);
      }
    } else {
      FAIL() << "unknown kind " << g.kind;
    }
    ++checked;
  }
  std::printf("golden formats_v1.json: %d vectors checked\n", checked);
}

// Every single-bit flip of a golden output is refused with the status the
// spec assigns to the byte's position; every truncation is refused.
TEST(Golden, EveryBitFlipAndTruncationIsRefused) {
  for (const Golden& g : Load()) {
    if (g.name != "short") continue;
    SCOPED_TRACE(g.alg);
    auto ks = Restore(g);
    ASSERT_NE(ks, nullptr);
    std::vector<uint8_t> out(g.output.size() + 128, 0xEE);
    auto check = [&](const std::vector<uint8_t>& input) -> kh_status {
      size_t n = 99;
      Status s;
      if (g.kind == "aead") s = ks->AeadDecrypt(input, g.aad, {out.data(), out.size(), &n});
      if (g.kind == "daead") s = ks->DaeadDecrypt(input, g.aad, {out.data(), out.size(), &n});
      if (g.kind == "mac") s = ks->MacVerify(g.msg, input);
      if (g.kind == "sig") s = ks->SigVerify(g.msg, input);
      if (!s.ok() && (g.kind == "aead" || g.kind == "daead")) {
        EXPECT_EQ(n, 0u);
        EXPECT_NE(std::memcmp(out.data(), g.msg.data(), g.msg.size()), 0) << "plaintext left in the output";
      }
      return s.code();
    };
    for (size_t byte = 0; byte < g.output.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = g.output;
        bad[byte] ^= static_cast<uint8_t>(1 << bit);
        const kh_status s = check(bad);
        if (byte == 0) {
          EXPECT_EQ(s, KH_E_UNSUPPORTED) << "version byte";
        } else if (byte == 1) {
          EXPECT_EQ(s, KH_E_MALFORMED) << "algorithm byte";
        } else if (byte < 6) {
          EXPECT_EQ(s, KH_E_UNKNOWN_KEY) << "key id byte " << byte;
        } else {
          EXPECT_EQ(s, KH_E_AUTH_FAILED) << "byte " << byte << " bit " << bit;
        }
      }
    }
    for (size_t len = 0; len < g.output.size(); ++len) {
      std::vector<uint8_t> cut(g.output.begin(), g.output.begin() + len);
      const kh_status s = check(cut);
      EXPECT_TRUE(s == KH_E_MALFORMED || s == KH_E_AUTH_FAILED)
          << "truncated to " << len << ": " << kh_status_name(s);
    }
  }
}

}  // namespace
}  // namespace keyhold
