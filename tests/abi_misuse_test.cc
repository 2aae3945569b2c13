// Bad input gets a clear status and nothing else: no crash, no partial
// output, no data. One test per item of the foundation issue's misuse list.
#include <openssl/err.h>

#include <cstring>
#include <vector>

#include "test_util.h"

namespace keyhold {
namespace {

using keyhold::testing::EngineFixture;

class Misuse : public EngineFixture {};

TEST_F(Misuse, NullPointers) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  uint8_t buf[64];
  size_t n = 7;
  EXPECT_EQ(kh_engine_open(nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_keyset_generate(engine_, KH_ALG_AES256_GCM, 0, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_aead_encrypt(ks, nullptr, 1, nullptr, 0, buf, sizeof buf, &n), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_aead_encrypt(ks, buf, 1, nullptr, 1, buf + 32, 32, &n), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_aead_encrypt(ks, buf, 1, nullptr, 0, buf + 32, 32, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_keyset_info_get(ks, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_alg_sizes_get(KH_ALG_AES256_GCM, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_batch(nullptr, 3, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_random_bytes(nullptr, 16), KH_E_NULL_POINTER);
  // NULL with length 0 is a valid empty buffer.
  EXPECT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, buf, sizeof buf, &n), KH_OK);
  EXPECT_EQ(n, 34u);
  EXPECT_EQ(kh_random_bytes(nullptr, 0), KH_OK);
  EXPECT_EQ(kh_batch(nullptr, 0, nullptr), KH_OK);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Misuse, TooLargeAndOverflowingLengths) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  uint8_t buf[64];
  size_t n = 0;
  // The length is checked before any byte is read, so a huge length on a
  // small buffer is refused rather than overread.
  const size_t huge = static_cast<size_t>(KH_MAX_INPUT_LEN) + 1;
  EXPECT_EQ(kh_aead_encrypt(ks, buf, huge, nullptr, 0, buf, sizeof buf, &n), KH_E_TOO_LARGE);
  EXPECT_EQ(kh_aead_encrypt(ks, buf, SIZE_MAX, nullptr, 0, buf, sizeof buf, &n), KH_E_TOO_LARGE);
  EXPECT_EQ(kh_aead_encrypt(ks, buf, 1, buf, SIZE_MAX, buf, sizeof buf, &n), KH_E_TOO_LARGE);
  EXPECT_EQ(kh_aead_decrypt(ks, buf, SIZE_MAX, nullptr, 0, buf, sizeof buf, &n), KH_E_TOO_LARGE);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(kh_random_bytes(buf, huge), KH_E_TOO_LARGE);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Misuse, BufferTooSmallReportsSizeAndWritesNothing) {
  kh_handle ks = Generate(KH_ALG_CHACHA20_POLY1305);
  const uint8_t msg[10] = {1, 2, 3};
  uint8_t out[64];
  std::memset(out, 0xAB, sizeof out);
  size_t n = 0;
  EXPECT_EQ(kh_aead_encrypt(ks, msg, sizeof msg, nullptr, 0, out, 43, &n), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 44u);
  for (uint8_t b : out) ASSERT_EQ(b, 0xAB);
  EXPECT_EQ(kh_aead_encrypt(ks, msg, sizeof msg, nullptr, 0, nullptr, 100, &n), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 44u);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Misuse, WrongPrimitiveAndWrongHandleType) {
  kh_handle aead = Generate(KH_ALG_AES256_GCM);
  kh_handle sig = Generate(KH_ALG_ED25519);
  kh_handle mac = Generate(KH_ALG_HMAC_SHA512);
  uint8_t out[128];
  size_t n = 0;
  EXPECT_EQ(kh_sig_sign(aead, out, 4, out + 64, 64, &n), KH_E_WRONG_PRIMITIVE);
  EXPECT_EQ(kh_aead_encrypt(sig, out, 4, nullptr, 0, out + 64, 64, &n), KH_E_WRONG_PRIMITIVE);
  EXPECT_EQ(kh_mac_verify(sig, out, 4, out, 38), KH_E_WRONG_PRIMITIVE);
  EXPECT_EQ(kh_daead_encrypt(mac, out, 4, nullptr, 0, out + 64, 64, &n), KH_E_WRONG_PRIMITIVE);
  EXPECT_EQ(kh_sig_sign_digest(sig, out, 32, out + 64, 64, &n), KH_E_WRONG_PRIMITIVE);
  EXPECT_EQ(kh_aead_seal_nonce(aead, out, 12, out, 4, nullptr, 0, out + 64, 64, &n), KH_E_WRONG_PRIMITIVE)
      << "caller nonces only on raw keysets";
  EXPECT_EQ(kh_keyset_public_key(aead, 0, KH_PUBKEY_RAW, out, sizeof out, &n), KH_E_WRONG_PRIMITIVE)
      << "symmetric keys never leave the engine";
  EXPECT_EQ(kh_aead_encrypt(engine_, out, 4, nullptr, 0, out + 64, 64, &n), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(kh_handle_close(engine_), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(kh_engine_close(aead), KH_E_WRONG_HANDLE_TYPE);
  kh_handle bad = 0;
  EXPECT_EQ(kh_keyset_generate(engine_, static_cast<kh_alg>(999), 0, &bad), KH_E_UNSUPPORTED);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(kh_keyset_generate(engine_, KH_ALG_AES256_GCM, 0x80, &bad), KH_E_INVALID_ARGUMENT);
  for (kh_handle h : {aead, sig, mac}) EXPECT_EQ(kh_handle_close(h), KH_OK);
}

TEST_F(Misuse, StaleForgedAndZeroHandles) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  uint8_t out[128];
  size_t n = 0;
  ASSERT_EQ(kh_handle_close(ks), KH_OK);
  EXPECT_EQ(kh_aead_encrypt(ks, out, 1, nullptr, 0, out + 64, 64, &n), KH_E_STALE_HANDLE);
  EXPECT_EQ(kh_handle_close(ks), KH_E_STALE_HANDLE);
  // The slot is reused by the next keyset, with a new generation: the old
  // handle must not reach the new object.
  kh_handle again = Generate(KH_ALG_AES256_GCM);
  EXPECT_NE(again, ks);
  EXPECT_EQ(static_cast<uint32_t>(again), static_cast<uint32_t>(ks)) << "slot reused";
  EXPECT_EQ(kh_aead_encrypt(ks, out, 1, nullptr, 0, out + 64, 64, &n), KH_E_STALE_HANDLE);
  for (kh_handle forged : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}, again ^ (uint64_t{1} << 40), again + 1}) {
    EXPECT_EQ(kh_aead_encrypt(forged, out, 1, nullptr, 0, out + 64, 64, &n), KH_E_STALE_HANDLE) << forged;
    EXPECT_EQ(kh_handle_close(forged), KH_E_STALE_HANDLE);
  }
  EXPECT_EQ(kh_handle_close(again), KH_OK);
}

TEST_F(Misuse, UnknownDisabledAndDestroyedKeys) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  const uint8_t msg[] = "old secret";
  uint8_t ct[128], pt[128];
  size_t ct_len = 0, n = 0;
  kh_keyset_info info{};
  ASSERT_EQ(kh_keyset_info_get(ks, &info), KH_OK);
  const uint32_t old_id = info.primary_key_id;
  ASSERT_EQ(kh_aead_encrypt(ks, msg, sizeof msg, nullptr, 0, ct, sizeof ct, &ct_len), KH_OK);
  uint32_t new_id = 0;
  ASSERT_EQ(kh_keyset_rotate(ks, &new_id), KH_OK);
  EXPECT_EQ(kh_keyset_disable(ks, new_id), KH_E_INVALID_ARGUMENT) << "the primary cannot be disabled";
  EXPECT_EQ(kh_keyset_destroy_key(ks, new_id), KH_E_INVALID_ARGUMENT) << "the primary cannot be destroyed";
  ASSERT_EQ(kh_keyset_disable(ks, old_id), KH_OK);
  EXPECT_EQ(kh_aead_decrypt(ks, ct, ct_len, nullptr, 0, pt, sizeof pt, &n), KH_E_KEY_DISABLED);
  EXPECT_EQ(kh_keyset_set_primary(ks, old_id), KH_E_KEY_DISABLED);
  ASSERT_EQ(kh_keyset_enable(ks, old_id), KH_OK);
  EXPECT_EQ(kh_aead_decrypt(ks, ct, ct_len, nullptr, 0, pt, sizeof pt, &n), KH_OK);
  ASSERT_EQ(kh_keyset_destroy_key(ks, old_id), KH_OK);
  EXPECT_EQ(kh_aead_decrypt(ks, ct, ct_len, nullptr, 0, pt, sizeof pt, &n), KH_E_KEY_DESTROYED);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(kh_keyset_enable(ks, old_id), KH_E_KEY_DESTROYED);
  EXPECT_EQ(kh_keyset_set_primary(ks, old_id), KH_E_KEY_DESTROYED);
  // A ciphertext naming a key id the keyset never had.
  uint32_t unknown = old_id ^ new_id ^ 0x5A5A5A5A;
  ct[2] = static_cast<uint8_t>(unknown >> 24);
  ct[3] = static_cast<uint8_t>(unknown >> 16);
  ct[4] = static_cast<uint8_t>(unknown >> 8);
  ct[5] = static_cast<uint8_t>(unknown);
  EXPECT_EQ(kh_aead_decrypt(ks, ct, ct_len, nullptr, 0, pt, sizeof pt, &n), KH_E_UNKNOWN_KEY);
  EXPECT_EQ(kh_keyset_disable(ks, unknown), KH_E_UNKNOWN_KEY);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Misuse, EveryTruncationAndBitFlipOfEveryFamily) {
  struct Case {
    kh_alg alg;
  };
  const uint8_t msg[] = "message under test";
  for (kh_alg alg : {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305,
                     KH_ALG_AES256_SIV, KH_ALG_HMAC_SHA256, KH_ALG_HMAC_SHA512, KH_ALG_ED25519,
                     KH_ALG_ECDSA_P256_SHA256_DER, KH_ALG_ECDSA_P256_SHA256_P1363}) {
    SCOPED_TRACE(kh_alg_name(alg));
    kh_handle ks = Generate(alg);
    std::vector<uint8_t> good(256), out(256);
    size_t n = 0;
    kh_status (*check)(kh_handle, const std::vector<uint8_t>&, const uint8_t*, size_t, uint8_t*, size_t*);
    switch (alg) {
      case KH_ALG_AES256_GCM:
      case KH_ALG_CHACHA20_POLY1305:
      case KH_ALG_XCHACHA20_POLY1305:
        ASSERT_EQ(kh_aead_encrypt(ks, msg, sizeof msg, msg, 3, good.data(), good.size(), &n), KH_OK);
        check = [](kh_handle k, const std::vector<uint8_t>& in, const uint8_t* m, size_t, uint8_t* o,
                   size_t* len) { return kh_aead_decrypt(k, in.data(), in.size(), m, 3, o, 256, len); };
        break;
      case KH_ALG_AES256_SIV:
        ASSERT_EQ(kh_daead_encrypt(ks, msg, sizeof msg, msg, 3, good.data(), good.size(), &n), KH_OK);
        check = [](kh_handle k, const std::vector<uint8_t>& in, const uint8_t* m, size_t, uint8_t* o,
                   size_t* len) { return kh_daead_decrypt(k, in.data(), in.size(), m, 3, o, 256, len); };
        break;
      case KH_ALG_HMAC_SHA256:
      case KH_ALG_HMAC_SHA512:
        ASSERT_EQ(kh_mac_compute(ks, msg, sizeof msg, good.data(), good.size(), &n), KH_OK);
        check = [](kh_handle k, const std::vector<uint8_t>& in, const uint8_t* m, size_t ml, uint8_t*,
                   size_t*) { return kh_mac_verify(k, m, ml, in.data(), in.size()); };
        break;
      default:
        ASSERT_EQ(kh_sig_sign(ks, msg, sizeof msg, good.data(), good.size(), &n), KH_OK);
        check = [](kh_handle k, const std::vector<uint8_t>& in, const uint8_t* m, size_t ml, uint8_t*,
                   size_t*) { return kh_sig_verify(k, m, ml, in.data(), in.size()); };
    }
    good.resize(n);
    size_t len = 0;
    ASSERT_EQ(check(ks, good, msg, sizeof msg, out.data(), &len), KH_OK);
    for (size_t cut = 0; cut < good.size(); ++cut) {
      std::vector<uint8_t> t(good.begin(), good.begin() + cut);
      std::fill(out.begin(), out.end(), 0xCC);
      len = 99;
      const kh_status s = check(ks, t, msg, sizeof msg, out.data(), &len);
      EXPECT_NE(s, KH_OK) << "truncated to " << cut;
      if (alg <= KH_ALG_AES256_SIV) {
        EXPECT_EQ(len, 0u);
      }
    }
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    EXPECT_NE(check(ks, longer, msg, sizeof msg, out.data(), &len), KH_OK) << "trailing byte";
    for (size_t i = 0; i < good.size(); ++i) {
      auto t = good;
      t[i] ^= 0x01;
      std::fill(out.begin(), out.end(), 0xCC);
      const kh_status s = check(ks, t, msg, sizeof msg, out.data(), &len);
      ASSERT_NE(s, KH_OK) << "flip at " << i;
      if (i >= 6) {
        EXPECT_EQ(s, KH_E_AUTH_FAILED) << "flip at " << i << ": " << kh_status_name(s);
      }
      if (alg <= KH_ALG_AES256_SIV) {
        EXPECT_EQ(len, 0u);
        EXPECT_NE(std::memcmp(out.data(), msg, sizeof msg), 0) << "plaintext released";
      }
    }
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
}

TEST_F(Misuse, OverlappingBuffersOtherThanInPlaceAreRefused) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  uint8_t buf[256];
  size_t n = 0;
  std::memset(buf, 7, sizeof buf);
  // Output starting at the plaintext: the body would overwrite unread input.
  EXPECT_EQ(kh_aead_encrypt(ks, buf, 64, nullptr, 0, buf, sizeof buf, &n), KH_E_INVALID_ARGUMENT);
  // In place: the ciphertext body lands exactly on the plaintext.
  const uint8_t orig[64] = {7};
  std::memcpy(buf + 18, orig, 64);
  ASSERT_EQ(kh_aead_encrypt(ks, buf + 18, 64, nullptr, 0, buf, sizeof buf, &n), KH_OK);
  ASSERT_EQ(n, 64u + 34u);
  // In-place decrypt: plaintext lands where the ciphertext body is.
  ASSERT_EQ(kh_aead_decrypt(ks, buf, n, nullptr, 0, buf + 18, 80, &n), KH_OK);
  EXPECT_EQ(std::memcmp(buf + 18, orig, 64), 0);
  // Output overlapping the associated data is refused.
  EXPECT_EQ(kh_aead_encrypt(ks, orig, 8, buf, 16, buf + 8, 100, &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(Misuse, OversizedAndMixedBatches) {
  kh_handle aead = Generate(KH_ALG_AES256_GCM);
  std::vector<kh_batch_item> items(KH_MAX_BATCH + 1);
  size_t failed = 0;
  EXPECT_EQ(kh_batch(items.data(), items.size(), &failed), KH_E_TOO_LARGE);
  uint8_t msg[16] = {1}, out[3][64];
  kh_batch_item it[4] = {};
  it[0] = {aead, KH_OP_AEAD_ENCRYPT, 99, msg, sizeof msg, nullptr, 0, nullptr, 0, out[0], sizeof out[0], 0};
  it[1] = {0xdeadbeef, KH_OP_AEAD_ENCRYPT, 99, msg, sizeof msg, nullptr, 0, nullptr, 0, out[1], 64, 0};
  it[2] = {aead, 77, 99, msg, sizeof msg, nullptr, 0, nullptr, 0, out[2], 64, 0};
  it[3] = {aead, KH_OP_AEAD_ENCRYPT, 99, msg, sizeof msg, nullptr, 0, nullptr, 0, out[2], 8, 0};
  ASSERT_EQ(kh_batch(it, 4, &failed), KH_OK);
  EXPECT_EQ(failed, 3u);
  EXPECT_EQ(it[0].status, KH_OK);
  EXPECT_EQ(it[0].out_len, 16u + 34u);
  EXPECT_EQ(it[1].status, KH_E_STALE_HANDLE);
  EXPECT_EQ(it[2].status, KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(it[3].status, KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(it[3].out_len, 50u);
  EXPECT_EQ(kh_handle_close(aead), KH_OK);
}

TEST(Status, NamesAreStaticDataFreeAndClosed) {
  for (int s = 0; s <= KH_E_NOT_FOUND; ++s) {
    const char* name = kh_status_name(static_cast<kh_status>(s));
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(std::strncmp(name, "KH_", 3), 0);
    EXPECT_STRNE(name, "KH_E_UNKNOWN_STATUS") << s;
  }
  EXPECT_STREQ(kh_status_name(static_cast<kh_status>(12345)), "KH_E_UNKNOWN_STATUS");
  // The numbers are part of the ABI: they may never change.
  EXPECT_EQ(KH_E_AUTH_FAILED, 8);
  EXPECT_EQ(KH_E_STALE_HANDLE, 4);
  EXPECT_EQ(KH_E_SELF_TEST_FAILED, 17);
  EXPECT_EQ(KH_E_IO, 21);
  EXPECT_EQ(KH_E_INSECURE_FILE, 22);
  EXPECT_EQ(KH_E_KEK_UNAVAILABLE, 23);
  EXPECT_EQ(KH_E_NOT_FOUND, 24);
}

TEST(Abi, VersionAndBuildInfo) {
  EXPECT_EQ(kh_abi_version(), static_cast<uint32_t>(KH_ABI_VERSION));
  const std::string info = kh_build_info();
  EXPECT_NE(info.find("\"abi_version\":1"), std::string::npos) << info;
  EXPECT_NE(info.find("openssl_runtime"), std::string::npos);
  EXPECT_NE(info.find("libsodium_runtime"), std::string::npos);
  EXPECT_NE(info.find("source_revision"), std::string::npos);
}

TEST(Abi, NoOpenSslErrorStateLeaksAcrossTheBoundary) {
  kh_handle e = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  kh_handle ks = 0;
  // Failures that go through OpenSSL error paths: bad public keys, bad tags.
  const uint8_t junk[40] = {0x30, 0x13, 0x02};
  EXPECT_NE(kh_keyset_import_public(e, KH_ALG_ECDSA_P256_SHA256_DER, junk, sizeof junk, &ks), KH_OK);
  EXPECT_EQ(ERR_peek_error(), 0ul);
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_ECDSA_P256_SHA256_DER, 0, &ks), KH_OK);
  EXPECT_EQ(kh_sig_verify_plain(ks, 0, junk, 4, junk, sizeof junk), KH_E_AUTH_FAILED);
  EXPECT_EQ(ERR_peek_error(), 0ul);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
  // Hot operations skip the queue check on success (abi.cc, Guard): every
  // successful operation of every family must leave the queue empty.
  const uint8_t msg[100] = {1, 2, 3};
  for (uint32_t a = 1; a < 128; ++a) {
    kh_alg_sizes sz{};
    if (kh_alg_sizes_get(static_cast<kh_alg>(a), &sz) != KH_OK) continue;
    ASSERT_EQ(kh_keyset_generate(e, static_cast<kh_alg>(a), 0, &ks), KH_OK);
    uint8_t out[256], back[256];
    size_t n = 0, m = 0;
    kh_status s1 = kh_aead_encrypt(ks, msg, sizeof msg, msg, 5, out, sizeof out, &n);
    if (s1 == KH_OK) {
      EXPECT_EQ(kh_aead_decrypt(ks, out, n, msg, 5, back, sizeof back, &m), KH_OK);
    }
    s1 = kh_daead_encrypt(ks, msg, sizeof msg, msg, 5, out, sizeof out, &n);
    if (s1 == KH_OK) {
      EXPECT_EQ(kh_daead_decrypt(ks, out, n, msg, 5, back, sizeof back, &m), KH_OK);
    }
    s1 = kh_mac_compute(ks, msg, sizeof msg, out, sizeof out, &n);
    if (s1 == KH_OK) {
      EXPECT_EQ(kh_mac_verify(ks, msg, sizeof msg, out, n), KH_OK);
    }
    s1 = kh_sig_sign(ks, msg, sizeof msg, out, sizeof out, &n);
    if (s1 == KH_OK) {
      EXPECT_EQ(kh_sig_verify(ks, msg, sizeof msg, out, n), KH_OK);
    }
    s1 = kh_sig_sign_plain(ks, msg, sizeof msg, out, sizeof out, &n);
    if (s1 == KH_OK) {
      EXPECT_EQ(kh_sig_verify_plain(ks, 0, msg, sizeof msg, out, n), KH_OK);
    }
    if (kh_kdf_derive(ks, msg, 4, msg, 4, out, 64) == KH_OK) {
      EXPECT_NE(out[0] | out[1] | out[2], 0);
    }
    EXPECT_EQ(ERR_peek_error(), 0ul) << kh_alg_name(static_cast<kh_alg>(a));
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
  EXPECT_EQ(kh_engine_close(e), KH_OK);
}

}  // namespace
}  // namespace keyhold

namespace keyhold {
namespace {

TEST_F(Misuse, OutLenIsZeroOnEveryEarlyFailure) {
  uint8_t buf[64] = {0};
  size_t n = 77;
  EXPECT_EQ(kh_aead_encrypt(0, buf, 1, nullptr, 0, buf + 8, 50, &n), KH_E_STALE_HANDLE);
  EXPECT_EQ(n, 0u);
  n = 77;
  EXPECT_EQ(kh_aead_decrypt(engine_, nullptr, 4, nullptr, 0, buf, sizeof buf, &n), KH_E_NULL_POINTER);
  EXPECT_EQ(n, 0u);
  n = 77;
  EXPECT_EQ(kh_sig_sign(engine_, buf, 4, buf + 8, 50, &n), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace keyhold
