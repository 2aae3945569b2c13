// Keysets through the C ABI: round trips for every algorithm, rotation,
// lifecycle, public-key export, raw keysets, usage limits.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "test_util.h"

namespace keyhold {
namespace {

using keyhold::testing::EngineFixture;

class Keysets : public EngineFixture {};

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

TEST_F(Keysets, AeadRoundTripsEverySizeAndRotation) {
  for (kh_alg alg : {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305}) {
    SCOPED_TRACE(kh_alg_name(alg));
    kh_handle ks = Generate(alg);
    kh_alg_sizes sz{};
    ASSERT_EQ(kh_alg_sizes_get(alg, &sz), KH_OK);
    std::vector<std::vector<uint8_t>> cts;
    for (size_t len :
         {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{1000}, size_t{70000}}) {
      auto pt = Bytes(len, 3), aad = Bytes(len % 40, 9);
      std::vector<uint8_t> ct(len + sz.overhead), back(len + 1);
      size_t n = 0;
      ASSERT_EQ(kh_aead_encrypt(ks, pt.data(), pt.size(), aad.data(), aad.size(), ct.data(), ct.size(), &n),
                KH_OK);
      ASSERT_EQ(n, ct.size());
      ASSERT_EQ(kh_aead_decrypt(ks, ct.data(), n, aad.data(), aad.size(), back.data(), back.size(), &n),
                KH_OK);
      ASSERT_EQ(n, len);
      EXPECT_TRUE(std::equal(pt.begin(), pt.end(), back.begin()));
      // Wrong associated data fails authentication.
      aad.push_back(1);
      EXPECT_EQ(
          kh_aead_decrypt(ks, ct.data(), ct.size(), aad.data(), aad.size(), back.data(), back.size(), &n),
          KH_E_AUTH_FAILED);
      cts.push_back(ct);
      uint32_t id = 0;
      ASSERT_EQ(kh_keyset_rotate(ks, &id), KH_OK);
    }
    // Every ciphertext, made under seven different primaries, still opens.
    for (auto& ct : cts) {
      std::vector<uint8_t> back(ct.size());
      size_t n = 0;
      const size_t len = ct.size() - sz.overhead;
      auto aad = Bytes(len % 40, 9);
      EXPECT_EQ(
          kh_aead_decrypt(ks, ct.data(), ct.size(), aad.data(), aad.size(), back.data(), back.size(), &n),
          KH_OK);
    }
    kh_keyset_info info{};
    ASSERT_EQ(kh_keyset_info_get(ks, &info), KH_OK);
    EXPECT_EQ(info.key_count, 8u);
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
}

TEST_F(Keysets, TwoEncryptionsOfOneMessageDiffer) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  uint8_t a[64], b[64];
  size_t n = 0;
  ASSERT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, a, sizeof a, &n), KH_OK);
  ASSERT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, b, sizeof b, &n), KH_OK);
  EXPECT_NE(std::memcmp(a + 6, b + 6, 12), 0) << "nonces must be fresh";
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Keysets, DeterministicAead) {
  kh_handle ks = Generate(KH_ALG_AES256_SIV);
  const uint8_t msg[] = "same in, same out";
  uint8_t a[64], b[64], back[64];
  size_t na = 0, nb = 0, n = 0;
  ASSERT_EQ(kh_daead_encrypt(ks, msg, sizeof msg, msg, 4, a, sizeof a, &na), KH_OK);
  ASSERT_EQ(kh_daead_encrypt(ks, msg, sizeof msg, msg, 4, b, sizeof b, &nb), KH_OK);
  ASSERT_EQ(na, nb);
  EXPECT_EQ(std::memcmp(a, b, na), 0);
  ASSERT_EQ(kh_daead_decrypt(ks, a, na, msg, 4, back, sizeof back, &n), KH_OK);
  EXPECT_EQ(std::memcmp(back, msg, sizeof msg), 0);
  ASSERT_EQ(kh_daead_encrypt(ks, nullptr, 0, nullptr, 0, a, sizeof a, &na), KH_OK);
  ASSERT_EQ(kh_daead_decrypt(ks, a, na, nullptr, 0, back, sizeof back, &n), KH_OK);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Keysets, SignaturesMacsAndPublicKeys) {
  const uint8_t msg[] = "sign me";
  for (kh_alg alg : {KH_ALG_ED25519, KH_ALG_ECDSA_P256_SHA256_DER, KH_ALG_ECDSA_P256_SHA256_P1363}) {
    SCOPED_TRACE(kh_alg_name(alg));
    kh_handle ks = Generate(alg);
    uint8_t sig[128], der[128];
    size_t n = 0, der_len = 0;
    ASSERT_EQ(kh_sig_sign(ks, msg, sizeof msg, sig, sizeof sig, &n), KH_OK);
    EXPECT_EQ(kh_sig_verify(ks, msg, sizeof msg, sig, n), KH_OK);
    // Plain signatures verify with OpenSSL directly, from the exported key.
    ASSERT_EQ(kh_keyset_public_key(ks, 0, KH_PUBKEY_DER, der, sizeof der, &der_len), KH_OK);
    const uint8_t* p = der;
    EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(der_len));
    ASSERT_NE(pkey, nullptr);
    ASSERT_EQ(kh_sig_sign_plain(ks, msg, sizeof msg, sig, sizeof sig, &n), KH_OK);
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    const bool ed = alg == KH_ALG_ED25519;
    ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, ed ? nullptr : EVP_sha256(), nullptr, pkey), 1);
    if (alg != KH_ALG_ECDSA_P256_SHA256_P1363) {
      EXPECT_EQ(EVP_DigestVerify(md, sig, n, msg, sizeof msg), 1)
          << "OpenSSL rejects keyhold's plain signature";
    } else {
      EXPECT_EQ(n, 64u);
    }
    EVP_MD_CTX_free(md);
    // Round trip through an imported public key.
    kh_handle pub = 0;
    ASSERT_EQ(kh_keyset_import_public(engine_, alg, der, der_len, &pub), KH_OK);
    EXPECT_EQ(kh_sig_verify_plain(pub, 0, msg, sizeof msg, sig, n), KH_OK);
    EXPECT_EQ(kh_sig_sign_plain(pub, msg, sizeof msg, sig, sizeof sig, &n), KH_E_WRONG_PRIMITIVE);
    EVP_PKEY_free(pkey);
    EXPECT_EQ(kh_handle_close(pub), KH_OK);
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
  for (kh_alg alg : {KH_ALG_HMAC_SHA256, KH_ALG_HMAC_SHA512}) {
    kh_handle ks = Generate(alg);
    uint8_t tag[128];
    size_t n = 0;
    ASSERT_EQ(kh_mac_compute(ks, msg, sizeof msg, tag, sizeof tag, &n), KH_OK);
    EXPECT_EQ(kh_mac_verify(ks, msg, sizeof msg, tag, n), KH_OK);
    EXPECT_EQ(kh_mac_verify(ks, msg, sizeof msg, tag, n - 1), KH_E_AUTH_FAILED)
        << "managed tags are never truncated";
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
}

TEST_F(Keysets, KeyAgreementAndKdf) {
  kh_handle a = Generate(KH_ALG_X25519), b = Generate(KH_ALG_X25519);
  uint8_t pa[32], pb[32], sa[32], sb[32];
  size_t n = 0;
  ASSERT_EQ(kh_keyset_public_key(a, 0, KH_PUBKEY_RAW, pa, sizeof pa, &n), KH_OK);
  ASSERT_EQ(kh_keyset_public_key(b, 0, KH_PUBKEY_RAW, pb, sizeof pb, &n), KH_OK);
  ASSERT_EQ(kh_kex_agree(a, pb, 32, sa, sizeof sa, &n), KH_OK);
  ASSERT_EQ(kh_kex_agree(b, pa, 32, sb, sizeof sb, &n), KH_OK);
  EXPECT_EQ(std::memcmp(sa, sb, 32), 0);
  const uint8_t zero[32] = {0};
  EXPECT_EQ(kh_kex_agree(a, zero, 32, sa, sizeof sa, &n), KH_E_INVALID_ARGUMENT) << "low-order point";
  EXPECT_EQ(kh_kex_agree(a, pb, 31, sa, sizeof sa, &n), KH_E_INVALID_ARGUMENT);
  kh_handle kdf = Generate(KH_ALG_HKDF_SHA256);
  uint8_t k1[64], k2[64];
  ASSERT_EQ(kh_kdf_derive(kdf, pa, 8, pb, 8, k1, sizeof k1), KH_OK);
  ASSERT_EQ(kh_kdf_derive(kdf, pa, 8, pb, 8, k2, sizeof k2), KH_OK);
  EXPECT_EQ(std::memcmp(k1, k2, 64), 0);
  ASSERT_EQ(kh_kdf_derive(kdf, pa, 8, pb, 9, k2, sizeof k2), KH_OK);
  EXPECT_NE(std::memcmp(k1, k2, 64), 0);
  std::vector<uint8_t> big(255 * 32 + 1);
  EXPECT_EQ(kh_kdf_derive(kdf, nullptr, 0, nullptr, 0, big.data(), big.size()), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_kdf_derive(kdf, nullptr, 0, nullptr, 0, big.data(), 0), KH_E_INVALID_ARGUMENT);
  for (kh_handle h : {a, b, kdf}) EXPECT_EQ(kh_handle_close(h), KH_OK);
}

TEST_F(Keysets, RawKeysetsWithCallerNonces) {
  uint8_t key[32];
  ASSERT_EQ(kh_random_bytes(key, sizeof key), KH_OK);
  kh_handle ks = 0;
  ASSERT_EQ(kh_keyset_import_raw(engine_, KH_ALG_AES256_GCM, key, sizeof key, &ks), KH_OK);
  uint8_t nonce[12] = {1}, pt[20] = {2}, ct[64], back[64];
  size_t n = 0;
  ASSERT_EQ(kh_aead_seal_nonce(ks, nonce, 12, pt, sizeof pt, nullptr, 0, ct, sizeof ct, &n), KH_OK);
  EXPECT_EQ(n, sizeof pt + 16);
  // Independent check against OpenSSL.
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  uint8_t ref[20], tag[16];
  int l = 0;
  ASSERT_EQ(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, nonce), 1);
  ASSERT_EQ(EVP_EncryptUpdate(c, ref, &l, pt, sizeof pt), 1);
  ASSERT_EQ(EVP_EncryptFinal_ex(c, ref + l, &l), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
  EVP_CIPHER_CTX_free(c);
  EXPECT_EQ(std::memcmp(ct, ref, 20), 0);
  EXPECT_EQ(std::memcmp(ct + 20, tag, 16), 0);
  ASSERT_EQ(kh_aead_open_nonce(ks, nonce, 12, ct, n, nullptr, 0, back, sizeof back, &n), KH_OK);
  EXPECT_EQ(std::memcmp(back, pt, sizeof pt), 0);
  EXPECT_EQ(kh_aead_seal_nonce(ks, nonce, 0, pt, sizeof pt, nullptr, 0, ct, sizeof ct, &n),
            KH_E_INVALID_ARGUMENT);
  uint32_t id = 0;
  EXPECT_EQ(kh_keyset_rotate(ks, &id), KH_E_UNSUPPORTED);
  kh_handle short_key = 0;
  EXPECT_EQ(kh_keyset_import_raw(engine_, KH_ALG_AES256_GCM, key, 16, &short_key), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(short_key, 0u);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST(UsageLimit, EncryptionIsRefusedAtTheLimitUntilRotation) {
  ASSERT_EQ(setenv("KEYHOLD_AEAD_MAX_MESSAGES", "3", 1), 0);
  kh_handle e = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  unsetenv("KEYHOLD_AEAD_MAX_MESSAGES");
  kh_handle ks = 0;
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  uint8_t ct[64], pt[64];
  size_t n = 0;
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, ct, sizeof ct, &n), KH_OK);
  EXPECT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, ct, sizeof ct, &n), KH_E_LIMIT_EXCEEDED);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(kh_aead_decrypt(ks, ct, 34, nullptr, 0, pt, sizeof pt, &n), KH_OK) << "decryption is not limited";
  kh_key_info ki{};
  ASSERT_EQ(kh_keyset_key_info_get(ks, 0, &ki), KH_OK);
  EXPECT_EQ(ki.use_count, 3u);
  uint32_t id = 0;
  ASSERT_EQ(kh_keyset_rotate(ks, &id), KH_OK);
  EXPECT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, ct, sizeof ct, &n), KH_OK);
  EXPECT_EQ(kh_engine_close(e), KH_OK);

  ASSERT_EQ(setenv("KEYHOLD_AEAD_MAX_MESSAGES", "lots", 1), 0);
  EXPECT_EQ(kh_engine_open(&e), KH_E_INVALID_ARGUMENT) << "a malformed limit is an error, not the default";
  unsetenv("KEYHOLD_AEAD_MAX_MESSAGES");
}

}  // namespace
}  // namespace keyhold
