// wycheproof_test.cc -- the Wycheproof vectors against the public C ABI only.
//
// One TEST per vector file. Keys are imported as raw keysets
// (kh_keyset_import_raw / kh_keyset_import_public), whose outputs carry no
// keyhold header, so they compare byte for byte with the vectors:
//   AEAD   kh_aead_seal_nonce / kh_aead_open_nonce   ct || tag
//   DAEAD  kh_daead_encrypt / kh_daead_decrypt       SIV || ct
//   MAC    kh_mac_compute (full tag) / kh_mac_verify (full or truncated tag)
//   HKDF   kh_kdf_derive with the IKM as the key
//   X25519 kh_kex_agree
//   Sigs   kh_sig_verify_plain
// Semantics follow FORMAT.md beside the vectors. Every test prints one count
// line and asserts how many cases ran and were skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "keyhold/keyhold.h"
#include "wycheproof_util.h"

namespace {

using wycheproof::Bytes;
using wycheproof::FileTest;
using wycheproof::Json;
using wycheproof::Result;
using wycheproof::TestCase;

// Output buffers are pre-filled with this byte. After a failed call every
// byte must be either untouched or zeroed (no partial output).
constexpr uint8_t kFill = 0xA5;

// ---------------------------------------------------------------- statuses

std::string StatusText(kh_status s) {
  return std::string(kh_status_name(s)) + " (" + std::to_string(static_cast<int>(s)) + ")";
}

::testing::AssertionResult StatusIs(kh_status got, kh_status want) {
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status " << StatusText(got) << ", want " << StatusText(want);
}

// Fails: a clean refusal -- not OK, and not KH_E_INTERNAL (a backend failing
// unexpectedly is a bug even when the vector expects a failure).
::testing::AssertionResult Fails(kh_status got) {
  if (got != KH_OK && got != KH_E_INTERNAL) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "status " << StatusText(got) << ", want a failure other than " << StatusText(KH_E_INTERNAL);
}

// NoPartialOutput: every byte of a buffer pre-filled with kFill is either
// untouched or zeroed.
::testing::AssertionResult NoPartialOutput(const Bytes& buf) {
  for (size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != kFill && buf[i] != 0) {
      return ::testing::AssertionFailure() << "output byte " << i << " left non-zero after a failure";
    }
  }
  return ::testing::AssertionSuccess();
}

// Same: compares without printing the bytes.
::testing::AssertionResult Same(const uint8_t* got, size_t got_len, const Bytes& want, const char* what) {
  if (got_len == want.size() && std::equal(want.begin(), want.end(), got)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << what << " differs from the vector (length " << got_len << ", want " << want.size() << ")";
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out(a);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// A buffer of n bytes (at least one, so data() is never NULL), pre-filled.
Bytes FilledBuffer(size_t n) { return Bytes(std::max<size_t>(n, 1), kFill); }

// ----------------------------------------------------------------- handles

// Keyset owns a keyset handle and closes it.
class Keyset {
 public:
  Keyset() = default;
  ~Keyset() { Reset(); }
  Keyset(const Keyset&) = delete;
  Keyset& operator=(const Keyset&) = delete;

  kh_handle get() const { return h_; }
  kh_handle* out() {
    Reset();
    return &h_;
  }
  void Reset() {
    if (h_ != 0) {
      EXPECT_TRUE(StatusIs(kh_handle_close(h_), KH_OK)) << "kh_handle_close";
      h_ = 0;
    }
  }

 private:
  kh_handle h_ = 0;
};

// Each test runs in its own engine; TearDown checks that every handle was
// closed before closing the engine.
class Wycheproof : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(StatusIs(kh_engine_open(&engine_), KH_OK)) << "kh_engine_open"; }

  void TearDown() override {
    if (engine_ == 0) return;
    kh_engine_stats stats{};
    EXPECT_TRUE(StatusIs(kh_engine_stats_get(engine_, &stats), KH_OK)) << "kh_engine_stats_get";
    EXPECT_EQ(stats.live_handles, 0u) << "handles left open";
    EXPECT_TRUE(StatusIs(kh_engine_close(engine_), KH_OK)) << "kh_engine_close";
    engine_ = 0;
  }

  // ImportRaw imports key bytes as a raw keyset; a refusal is a failure.
  bool ImportRaw(kh_alg alg, const Bytes& key, Keyset* ks) {
    kh_status st = kh_keyset_import_raw(engine_, alg, key.data(), key.size(), ks->out());
    EXPECT_TRUE(StatusIs(st, KH_OK)) << "kh_keyset_import_raw(" << kh_alg_name(alg) << ", " << key.size()
                                     << "-byte key)";
    return st == KH_OK;
  }

  bool ImportPublic(kh_alg alg, const Bytes& pub, Keyset* ks, const char* encoding) {
    kh_status st = kh_keyset_import_public(engine_, alg, pub.data(), pub.size(), ks->out());
    EXPECT_TRUE(StatusIs(st, KH_OK)) << "kh_keyset_import_public(" << kh_alg_name(alg) << ", " << encoding
                                     << ")";
    return st == KH_OK;
  }

  void RunAead(const std::string& file, kh_alg alg, const std::function<bool(int64_t)>& iv_bits_ok,
               size_t max_nonce_len, size_t expected_skipped);
  void RunMac(const std::string& file, kh_alg alg, size_t full_tag_len);
  void RunHkdf(const std::string& file, kh_alg alg);
  void RunEcdsa(const std::string& file, kh_alg alg);

  kh_handle engine_ = 0;
};

// -------------------------------------------------------------------- AEAD

// RunAead: valid => seal gives exactly ct || tag and open gives msg.
// invalid => open fails (KH_E_AUTH_FAILED for a bad tag); for an IV size the
// algorithm does not define (iv_bits_ok false) seal fails too
// (KH_E_INVALID_ARGUMENT). An IV the algorithm allows but that is longer than
// keyhold's documented nonce range (max_nonce_len bytes) must be refused with
// KH_E_INVALID_ARGUMENT by seal and open, and the case counts as skipped.
void Wycheproof::RunAead(const std::string& file, kh_alg alg, const std::function<bool(int64_t)>& iv_bits_ok,
                         size_t max_nonce_len, size_t expected_skipped) {
  FileTest ft(file);
  ft.ForEach([&](TestCase& tc) {
    int64_t key_bits = tc.GroupInt("keySize");
    int64_t iv_bits = tc.GroupInt("ivSize");
    int64_t tag_bits = tc.GroupInt("tagSize");
    Bytes key = tc.Hex("key");
    if (key_bits != 256) {
      // Not run; but the contract says only 32-byte keys import.
      Keyset ks;
      EXPECT_TRUE(Fails(kh_keyset_import_raw(engine_, alg, key.data(), key.size(), ks.out())))
          << "a " << key.size() << "-byte key was accepted";
      tc.Skip("AES-128/192 keys: keyhold is AES-256 only");
      return;
    }
    if (tag_bits != 128) {
      tc.Skip("truncated tags: keyhold AEAD tags are 128-bit only");
      return;
    }
    Bytes iv = tc.Hex("iv");
    Bytes aad = tc.Hex("aad");
    Bytes msg = tc.Hex("msg");
    Bytes ct = tc.Hex("ct");
    Bytes tag = tc.Hex("tag");
    EXPECT_EQ(static_cast<int64_t>(iv.size()) * 8, iv_bits) << "ivSize does not match the iv";
    const bool iv_ok = iv_bits_ok(iv_bits);
    const Bytes ct_tag = Concat(ct, tag);

    Keyset ks;
    if (!ImportRaw(alg, key, &ks)) return;

    if (iv_ok && iv.size() > max_nonce_len) {
      Bytes buf = FilledBuffer(ct_tag.size() + 16);
      size_t len = 12345;
      EXPECT_TRUE(StatusIs(kh_aead_seal_nonce(ks.get(), iv.data(), iv.size(), msg.data(), msg.size(),
                                              aad.data(), aad.size(), buf.data(), buf.size(), &len),
                           KH_E_INVALID_ARGUMENT))
          << "seal with a " << iv.size() << "-byte nonce";
      EXPECT_EQ(len, 0u) << "seal failed but *out_len != 0";
      len = 12345;
      EXPECT_TRUE(StatusIs(kh_aead_open_nonce(ks.get(), iv.data(), iv.size(), ct_tag.data(), ct_tag.size(),
                                              aad.data(), aad.size(), buf.data(), buf.size(), &len),
                           KH_E_INVALID_ARGUMENT))
          << "open with a " << iv.size() << "-byte nonce";
      EXPECT_EQ(len, 0u) << "open failed but *out_len != 0";
      EXPECT_TRUE(NoPartialOutput(buf));
      tc.Skip("IVs over " + std::to_string(max_nonce_len) + " bytes: outside keyhold's nonce range");
      return;
    }

    // Seal.
    Bytes sealed = FilledBuffer(msg.size() + 16);
    size_t sealed_len = 12345;
    kh_status st = kh_aead_seal_nonce(ks.get(), iv.data(), iv.size(), msg.data(), msg.size(), aad.data(),
                                      aad.size(), sealed.data(), msg.size() + 16, &sealed_len);
    if (!iv_ok) {
      EXPECT_TRUE(StatusIs(st, KH_E_INVALID_ARGUMENT)) << "seal with a " << iv.size() << "-byte nonce";
      EXPECT_EQ(sealed_len, 0u) << "seal failed but *out_len != 0";
      EXPECT_TRUE(NoPartialOutput(sealed)) << "seal";
    } else if (tc.result == Result::kValid) {
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "seal";
      if (st == KH_OK) {
        EXPECT_TRUE(Same(sealed.data(), sealed_len, ct_tag, "sealed ct||tag"));
      }
    } else {
      // A bad-tag vector: sealing the same inputs succeeds and gives another tag.
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "seal";
      if (st == KH_OK) {
        EXPECT_FALSE(sealed_len == ct_tag.size() && std::equal(ct_tag.begin(), ct_tag.end(), sealed.begin()))
            << "seal reproduced the ciphertext of an invalid vector";
      }
    }

    // Open.
    Bytes opened = FilledBuffer(ct_tag.size());
    size_t opened_len = 12345;
    st = kh_aead_open_nonce(ks.get(), iv.data(), iv.size(), ct_tag.data(), ct_tag.size(), aad.data(),
                            aad.size(), opened.data(), ct_tag.size(), &opened_len);
    if (tc.result == Result::kValid) {
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "open";
      if (st == KH_OK) {
        EXPECT_TRUE(Same(opened.data(), opened_len, msg, "opened plaintext"));
      }
    } else {
      if (iv_ok) {
        EXPECT_TRUE(StatusIs(st, KH_E_AUTH_FAILED)) << "open of a bad tag";
      } else {
        EXPECT_TRUE(Fails(st)) << "open with a " << iv.size() << "-byte nonce";
      }
      EXPECT_EQ(opened_len, 0u) << "open failed but *out_len != 0";
      EXPECT_TRUE(NoPartialOutput(opened)) << "open";
    }
  });
  ft.Finish(expected_skipped);
}

// AES-GCM: keyhold is AES-256 only and takes nonces of 1..128 bytes
// (OpenSSL's GCM limit); GCM itself allows any non-empty IV, an empty one is
// invalid. Of the 316 cases 211 use AES-128/192 keys and 1 (tcId 276) an
// AES-256 key with a 257-byte IV.
TEST_F(Wycheproof, AesGcm) {
  RunAead(
      "aes_gcm_test.json", KH_ALG_AES256_GCM, [](int64_t bits) { return bits > 0 && bits % 8 == 0; },
      /*max_nonce_len=*/128, /*expected_skipped=*/212);
}

TEST_F(Wycheproof, ChaCha20Poly1305) {
  RunAead(
      "chacha20_poly1305_test.json", KH_ALG_CHACHA20_POLY1305, [](int64_t bits) { return bits == 96; },
      /*max_nonce_len=*/12,
      /*expected_skipped=*/0);
}

TEST_F(Wycheproof, XChaCha20Poly1305) {
  RunAead(
      "xchacha20_poly1305_test.json", KH_ALG_XCHACHA20_POLY1305, [](int64_t bits) { return bits == 192; },
      /*max_nonce_len=*/24,
      /*expected_skipped=*/0);
}

// ------------------------------------------------------------------- DAEAD

// AES-SIV (RFC 5297) with aad as the single associated-data item: the raw
// output SIV || ciphertext is the vector's ct.
TEST_F(Wycheproof, AesSivCmac) {
  FileTest ft("aes_siv_cmac_test.json");
  ft.ForEach([&](TestCase& tc) {
    int64_t key_bits = tc.GroupInt("keySize");
    Bytes key = tc.Hex("key");
    Bytes aad = tc.Hex("aad");
    Bytes msg = tc.Hex("msg");
    Bytes ct = tc.Hex("ct");
    EXPECT_EQ(static_cast<int64_t>(key.size()) * 8, key_bits) << "keySize does not match the key";

    Keyset ks;
    if (!ImportRaw(KH_ALG_AES256_SIV, key, &ks)) return;

    Bytes enc = FilledBuffer(msg.size() + 16);
    size_t enc_len = 12345;
    kh_status st = kh_daead_encrypt(ks.get(), msg.data(), msg.size(), aad.data(), aad.size(), enc.data(),
                                    msg.size() + 16, &enc_len);
    EXPECT_TRUE(StatusIs(st, KH_OK)) << "encrypt";
    if (st == KH_OK) {
      if (tc.result == Result::kValid) {
        EXPECT_TRUE(Same(enc.data(), enc_len, ct, "SIV||ct"));
      } else {
        EXPECT_FALSE(enc_len == ct.size() && std::equal(ct.begin(), ct.end(), enc.begin()))
            << "encrypt reproduced the ciphertext of an invalid vector";
      }
    }

    Bytes dec = FilledBuffer(ct.size());
    size_t dec_len = 12345;
    st = kh_daead_decrypt(ks.get(), ct.data(), ct.size(), aad.data(), aad.size(), dec.data(), ct.size(),
                          &dec_len);
    if (tc.result == Result::kValid) {
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "decrypt";
      if (st == KH_OK) {
        EXPECT_TRUE(Same(dec.data(), dec_len, msg, "decrypted plaintext"));
      }
    } else {
      EXPECT_TRUE(StatusIs(st, KH_E_AUTH_FAILED)) << "decrypt of a bad SIV";
      EXPECT_EQ(dec_len, 0u) << "decrypt failed but *out_len != 0";
      EXPECT_TRUE(NoPartialOutput(dec)) << "decrypt";
    }
  });
  ft.Finish(/*expected_skipped=*/0);
}

// --------------------------------------------------------------------- MAC

// RunMac: the leftmost tagSize/8 bytes of the full tag must equal the vector
// tag for valid cases and differ for invalid ones; kh_mac_verify with the
// vector tag (truncated or full) must agree.
void Wycheproof::RunMac(const std::string& file, kh_alg alg, size_t full_tag_len) {
  FileTest ft(file);
  ft.ForEach([&](TestCase& tc) {
    int64_t key_bits = tc.GroupInt("keySize");
    int64_t tag_bits = tc.GroupInt("tagSize");
    Bytes key = tc.Hex("key");
    Bytes msg = tc.Hex("msg");
    Bytes tag = tc.Hex("tag");
    EXPECT_EQ(static_cast<int64_t>(key.size()) * 8, key_bits) << "keySize does not match the key";
    ASSERT_TRUE(tag_bits > 0 && tag_bits % 8 == 0 && static_cast<size_t>(tag_bits / 8) <= full_tag_len)
        << "tagSize " << tag_bits;
    const size_t tag_len = static_cast<size_t>(tag_bits / 8);
    if (tag_len < 10) {
      tc.Skip("tags under 10 bytes: raw keysets verify tags of 10 bytes or more");
      return;
    }

    Keyset ks;
    if (!ImportRaw(alg, key, &ks)) return;

    Bytes full = FilledBuffer(full_tag_len + 16);
    size_t full_len = 12345;
    kh_status st = kh_mac_compute(ks.get(), msg.data(), msg.size(), full.data(), full.size(), &full_len);
    EXPECT_TRUE(StatusIs(st, KH_OK)) << "compute";
    if (st == KH_OK) {
      EXPECT_EQ(full_len, full_tag_len) << "raw MAC output is not the bare full tag";
      if (full_len >= tag_len) {
        bool match = tag.size() == tag_len && std::equal(tag.begin(), tag.end(), full.begin());
        EXPECT_EQ(match, tc.result == Result::kValid)
            << "leftmost " << tag_len << " bytes of the computed tag " << (match ? "match" : "do not match")
            << " the vector";
      }
    }

    st = kh_mac_verify(ks.get(), msg.data(), msg.size(), tag.data(), tag.size());
    if (tc.result == Result::kValid) {
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "verify of a " << tag.size() << "-byte tag";
    } else {
      EXPECT_TRUE(StatusIs(st, KH_E_AUTH_FAILED)) << "verify of a bad " << tag.size() << "-byte tag";
    }
  });
  ft.Finish(/*expected_skipped=*/0);
}

TEST_F(Wycheproof, HmacSha256) { RunMac("hmac_sha256_test.json", KH_ALG_HMAC_SHA256, 32); }

TEST_F(Wycheproof, HmacSha512) { RunMac("hmac_sha512_test.json", KH_ALG_HMAC_SHA512, 64); }

// -------------------------------------------------------------------- HKDF

// RunHkdf: valid => kh_kdf_derive(salt, info, size) == okm; invalid (size >
// 255 * HashLen) => a clean failure with no output.
void Wycheproof::RunHkdf(const std::string& file, kh_alg alg) {
  FileTest ft(file);
  ft.ForEach([&](TestCase& tc) {
    Bytes ikm = tc.Hex("ikm");
    Bytes salt = tc.Hex("salt");
    Bytes info = tc.Hex("info");
    Bytes okm = tc.Hex("okm");
    int64_t size = tc.test.value("size", int64_t{-1});
    ASSERT_GE(size, 0) << "missing size";
    if (ikm.empty()) {
      tc.Skip("empty IKM: raw keysets hold a non-empty key");
      return;
    }

    Keyset ks;
    if (!ImportRaw(alg, ikm, &ks)) return;

    Bytes out = FilledBuffer(static_cast<size_t>(size));
    kh_status st = kh_kdf_derive(ks.get(), salt.data(), salt.size(), info.data(), info.size(), out.data(),
                                 static_cast<size_t>(size));
    if (tc.result == Result::kValid) {
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "derive " << size << " bytes";
      if (st == KH_OK) {
        EXPECT_TRUE(Same(out.data(), static_cast<size_t>(size), okm, "okm"));
      }
    } else {
      EXPECT_TRUE(Fails(st)) << "derive " << size << " bytes";
      EXPECT_TRUE(NoPartialOutput(out)) << "derive";
    }
  });
  ft.Finish(/*expected_skipped=*/0);
}

TEST_F(Wycheproof, HkdfSha256) { RunHkdf("hkdf_sha256_test.json", KH_ALG_HKDF_SHA256); }

TEST_F(Wycheproof, HkdfSha512) { RunHkdf("hkdf_sha512_test.json", KH_ALG_HKDF_SHA512); }

// -------------------------------------------------------------- signatures

// Verify runs kh_sig_verify_plain with the expectation of the case.
void ExpectVerify(const TestCase& tc, kh_handle ks, const Bytes& msg, const Bytes& sig,
                  const char* key_form) {
  kh_status st = kh_sig_verify_plain(ks, 0, msg.data(), msg.size(), sig.data(), sig.size());
  switch (tc.result) {
    case Result::kValid:
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "verify (key imported as " << key_form << ")";
      break;
    case Result::kInvalid:
      EXPECT_TRUE(Fails(st)) << "verify (key imported as " << key_form << ")";
      break;
    case Result::kAcceptable:
      EXPECT_NE(st, KH_E_INTERNAL) << "verify (key imported as " << key_form << ")";
      break;
  }
}

// Ed25519: the key is imported both as the raw 32-byte pk (the primary
// form) and as SubjectPublicKeyInfo DER; both must give the vector's result.
TEST_F(Wycheproof, Ed25519) {
  FileTest ft("ed25519_test.json");
  ft.ForEach([&](TestCase& tc) {
    ASSERT_TRUE(tc.group.contains("publicKey")) << "no publicKey";
    Bytes pk = wycheproof::HexField(tc.group["publicKey"], "pk");
    Bytes der = wycheproof::HexField(tc.group, "publicKeyDer");
    Bytes msg = tc.Hex("msg");
    Bytes sig = tc.Hex("sig");

    Keyset raw_ks;
    if (ImportPublic(KH_ALG_ED25519, pk, &raw_ks, "raw pk")) {
      ExpectVerify(tc, raw_ks.get(), msg, sig, "raw pk");
    }
    Keyset der_ks;
    if (ImportPublic(KH_ALG_ED25519, der, &der_ks, "SPKI DER")) {
      ExpectVerify(tc, der_ks.get(), msg, sig, "SPKI DER");
    }
  });
  ft.Finish(/*expected_skipped=*/0);
}

// RunEcdsa: the key is imported both as publicKeyDer (SPKI, the primary
// form) and as the 65-byte SEC1 uncompressed point.
void Wycheproof::RunEcdsa(const std::string& file, kh_alg alg) {
  FileTest ft(file);
  ft.ForEach([&](TestCase& tc) {
    ASSERT_TRUE(tc.group.contains("publicKey")) << "no publicKey";
    Bytes der = wycheproof::HexField(tc.group, "publicKeyDer");
    Bytes point = wycheproof::HexField(tc.group["publicKey"], "uncompressed");
    Bytes msg = tc.Hex("msg");
    Bytes sig = tc.Hex("sig");

    Keyset der_ks;
    if (ImportPublic(alg, der, &der_ks, "SPKI DER")) {
      ExpectVerify(tc, der_ks.get(), msg, sig, "SPKI DER");
    }
    Keyset point_ks;
    if (ImportPublic(alg, point, &point_ks, "SEC1 point")) {
      ExpectVerify(tc, point_ks.get(), msg, sig, "SEC1 point");
    }
  });
  ft.Finish(/*expected_skipped=*/0);
}

TEST_F(Wycheproof, EcdsaP256Sha256Der) {
  RunEcdsa("ecdsa_secp256r1_sha256_test.json", KH_ALG_ECDSA_P256_SHA256_DER);
}

TEST_F(Wycheproof, EcdsaP256Sha256P1363) {
  RunEcdsa("ecdsa_secp256r1_sha256_p1363_test.json", KH_ALG_ECDSA_P256_SHA256_P1363);
}

// ------------------------------------------------------------------ X25519

// X25519: valid => the shared secret equals `shared`. acceptable => either
// outcome, but a success must give `shared`. Whatever the result, an
// all-zero shared secret (a low-order peer key) must be refused with
// KH_E_INVALID_ARGUMENT.
TEST_F(Wycheproof, X25519) {
  FileTest ft("x25519_test.json");
  ft.ForEach([&](TestCase& tc) {
    Bytes priv = tc.Hex("private");
    Bytes pub = tc.Hex("public");
    Bytes shared = tc.Hex("shared");
    const bool zero =
        !shared.empty() && std::all_of(shared.begin(), shared.end(), [](uint8_t b) { return b == 0; });

    Keyset ks;
    if (!ImportRaw(KH_ALG_X25519, priv, &ks)) return;

    Bytes out = FilledBuffer(32);
    size_t out_len = 12345;
    kh_status st = kh_kex_agree(ks.get(), pub.data(), pub.size(), out.data(), 32, &out_len);
    if (zero) {
      EXPECT_TRUE(StatusIs(st, KH_E_INVALID_ARGUMENT)) << "all-zero shared secret";
    } else if (tc.result == Result::kValid) {
      EXPECT_TRUE(StatusIs(st, KH_OK)) << "agree";
    } else if (tc.result == Result::kInvalid) {
      EXPECT_TRUE(Fails(st)) << "agree";
    } else {
      EXPECT_NE(st, KH_E_INTERNAL) << "agree";
    }
    if (st == KH_OK) {
      EXPECT_TRUE(Same(out.data(), out_len, shared, "shared secret"));
    } else {
      EXPECT_EQ(out_len, 0u) << "agree failed but *out_len != 0";
      EXPECT_TRUE(NoPartialOutput(out)) << "agree";
    }
  });
  ft.Finish(/*expected_skipped=*/0);
}

// ------------------------------------------------------------- not covered

struct NotCovered {
  const char* file;
  const char* reason;
};

constexpr NotCovered kNotCovered[] = {
    {"aes_gcm_siv_test.json", "AES-GCM-SIV is not a keyhold algorithm"},
    {"aes_cmac_test.json", "AES-CMAC is not a keyhold algorithm"},
    {"aes_kwp_test.json", "AES key wrap with padding is not a keyhold algorithm"},
    {"ecdh_secp256r1_test.json", "ECDH on P-256 is not a keyhold algorithm (X25519 only)"},
    {"rsa_pss_2048_sha256_mgf1_32_test.json", "RSA-PSS is not a keyhold algorithm"},
};

constexpr const char* kCovered[] = {
    "aes_gcm_test.json",
    "chacha20_poly1305_test.json",
    "xchacha20_poly1305_test.json",
    "aes_siv_cmac_test.json",
    "hmac_sha256_test.json",
    "hmac_sha512_test.json",
    "hkdf_sha256_test.json",
    "hkdf_sha512_test.json",
    "ed25519_test.json",
    "ecdsa_secp256r1_sha256_test.json",
    "ecdsa_secp256r1_sha256_p1363_test.json",
    "x25519_test.json",
};

// NotCoveredFiles lists the vector files of algorithms keyhold does not
// offer, after checking that every .json file in the folder is either run
// above or listed here (so no file is ignored silently).
TEST(WycheproofNotCovered, UnsupportedAlgorithms) {
  std::set<std::string> known(std::begin(kCovered), std::end(kCovered));
  for (const NotCovered& nc : kNotCovered) known.insert(nc.file);

  std::error_code ec;
  std::filesystem::directory_iterator it(wycheproof::VectorDir(), ec);
  ASSERT_FALSE(ec) << "cannot list " << wycheproof::VectorDir();
  std::set<std::string> present;
  for (const auto& entry : it) {
    if (entry.path().extension() == ".json") present.insert(entry.path().filename().string());
  }
  for (const std::string& f : present) {
    EXPECT_TRUE(known.count(f)) << f << " is neither covered nor listed as not covered";
  }
  for (const std::string& f : known) {
    EXPECT_TRUE(present.count(f)) << f << " is missing from " << wycheproof::VectorDir();
  }
  if (::testing::Test::HasFailure()) return;

  std::string message = "not covered:";
  for (const NotCovered& nc : kNotCovered) {
    std::cout << "wycheproof " << nc.file << ": not covered (" << nc.reason << ")" << std::endl;
    message += std::string(" ") + nc.file + " (" + nc.reason + ");";
  }
  GTEST_SKIP() << message;
}

}  // namespace
