// aes_gcm_backends_test.cc -- the AEADs with two backends, OpenSSL and
// intel-ipsec-mb (AES-256-GCM and ChaCha20-Poly1305,
// docs/decisions/0011-ipsec-mb-aes-gcm.md), each backend built explicitly
// through its internal factory whatever the process selected:
//   - Wycheproof on each backend, every IV size keyhold accepts, AAD whole
//     and split as keysets pass it, in place and not;
//   - a differential test: random keys, nonces, AAD and sizes (0 B - 1 MiB),
//     sealed on one backend and opened on the other, both ways, with
//     tampering detected by both;
//   - a GCM counter wrap in the middle of a 1 MiB message (16-byte IV);
//   - many threads sharing one accelerated key (run under TSan too);
//   - the process-wide selection and its report, kh_runtime_info.
// Random cases print their seed; KEYHOLD_TEST_SEED=<n> replays one run.
// Failure messages carry sizes and case numbers, never key bytes.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aead/aead.h"
#include "aead/backends.h"
#include "aead/evp_aead.h"
#include "selftest/selftest.h"
#include "test_util.h"
#include "wycheproof_util.h"

#if defined(__x86_64__) && __has_include(<intel-ipsec-mb.h>)
#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#endif

namespace keyhold {
namespace {

using Bytes = std::vector<uint8_t>;
using aead::Aead;
using aead::kTagLen;

using aead::Accelerated;
using aead::Backend;

// Variant: one primitive on one backend.
struct Variant {
  Accelerated prim;
  Backend backend;
};

std::string VariantName(const Variant& v) {
  return std::string(v.prim == Accelerated::kAes256Gcm ? "AesGcm" : "ChaCha20Poly1305") +
         (v.backend == Backend::kOpenSSL ? "_OpenSSL" : "_IpsecMb");
}

StatusOr<std::unique_ptr<Aead>> Make(const Variant& v, ByteView key) {
  if (v.prim == Accelerated::kAes256Gcm) {
    return v.backend == Backend::kOpenSSL ? aead::NewAes256GcmOpenSSL(key) : aead::NewAes256GcmIpsecMb(key);
  }
  return v.backend == Backend::kOpenSSL ? aead::NewChaCha20Poly1305OpenSSL(key)
                                        : aead::NewChaCha20Poly1305IpsecMb(key);
}

bool IpsecMbRuns() { return aead::ProbeIpsecMb().available; }

#define SKIP_WITHOUT_IPSEC_MB() \
  if (!IpsecMbRuns())           \
  GTEST_SKIP() << "intel-ipsec-mb cannot run on this machine: " << aead::ProbeIpsecMb().unavailable_reason

constexpr uint8_t kFill = 0xA5;

// Untouched (kFill) or zeroed: what a failed call may leave in its output.
bool NoPartialOutput(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == kFill || b == 0; });
}
// Fails: a clean refusal -- not OK, and not KH_E_INTERNAL.
bool Fails(Status s) { return !s.ok() && s.code() != KH_E_INTERNAL; }
bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out(a);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Rng: a seeded generator, so a failing run can be replayed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t Range(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(g_); }
  bool Chance(unsigned percent) { return Range(0, 99) < percent; }
  Bytes Fill(size_t n) {
    Bytes out(n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t v = g_();
      std::memcpy(out.data() + i, &v, 8);
    }
    for (; i < n; ++i) out[i] = static_cast<uint8_t>(g_());
    return out;
  }

 private:
  std::mt19937_64 g_;
};

uint64_t TestSeed() {
  if (const char* s = std::getenv("KEYHOLD_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  std::random_device rd;
  return (uint64_t{rd()} << 32) | rd();
}

// ------------------------------------------------------------- Wycheproof

class AeadBackendTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (GetParam().backend == Backend::kIpsecMb) SKIP_WITHOUT_IPSEC_MB();
  }
};

INSTANTIATE_TEST_SUITE_P(Each, AeadBackendTest,
                         ::testing::Values(Variant{Accelerated::kAes256Gcm, Backend::kOpenSSL},
                                           Variant{Accelerated::kAes256Gcm, Backend::kIpsecMb},
                                           Variant{Accelerated::kChaCha20Poly1305, Backend::kOpenSSL},
                                           Variant{Accelerated::kChaCha20Poly1305, Backend::kIpsecMb}),
                         [](const ::testing::TestParamInfo<Variant>& p) { return VariantName(p.param); });

// Of aes_gcm_test.json's 316 cases, 211 use AES-128/192 keys and one
// (tcId 276) a 257-byte IV, valid for GCM but outside keyhold's 1..128-byte
// nonce range. chacha20_poly1305_test.json's IVs other than 96 bits are all
// invalid cases: refused, and counted as run.
TEST_P(AeadBackendTest, Wycheproof) {
  const bool gcm = GetParam().prim == Accelerated::kAes256Gcm;
  wycheproof::FileTest ft(gcm ? "aes_gcm_test.json" : "chacha20_poly1305_test.json");
  ft.ForEach([&](wycheproof::TestCase& tc) {
    if (tc.GroupInt("keySize") != 256) {
      tc.Skip("AES-128/192 keys: keyhold is AES-256 only");
      return;
    }
    ASSERT_EQ(tc.GroupInt("tagSize"), 128);
    const Bytes key = tc.Hex("key"), iv = tc.Hex("iv"), aad = tc.Hex("aad"), msg = tc.Hex("msg");
    const Bytes ct_tag = Concat(tc.Hex("ct"), tc.Hex("tag"));
    // Some invalid cases are shorter than a tag.
    const size_t body = ct_tag.size() < kTagLen ? 0 : ct_tag.size() - kTagLen;
    auto made = Make(GetParam(), key);
    ASSERT_TRUE(made.ok());
    const Aead& a = **made;
    const bool valid = tc.result == wycheproof::Result::kValid;

    if (!a.NonceLenOk(iv.size())) {
      EXPECT_TRUE(iv.empty() || iv.size() > 128 || !gcm) << iv.size() << "-byte IV refused";
      Bytes out(msg.size() + kTagLen, kFill);
      EXPECT_EQ(a.Seal(iv, {}, aad, msg, out.data()).code(), KH_E_INVALID_ARGUMENT);
      EXPECT_TRUE(NoPartialOutput(out.data(), out.size()));
      Bytes back(body, kFill);
      EXPECT_TRUE(Fails(a.Open(iv, {}, aad, ct_tag, back.data())));
      EXPECT_TRUE(NoPartialOutput(back.data(), back.size()));
      if (valid) tc.Skip("IVs over 128 bytes: outside keyhold's nonce range");
      return;
    }

    // AAD whole in aad2 (raw keysets), split after 6 bytes (managed keysets
    // put their header first), and whole in aad1.
    for (size_t split : {size_t{0}, std::min<size_t>(6, aad.size()), aad.size()}) {
      SCOPED_TRACE("aad split at " + std::to_string(split));
      const ByteView aad1(aad.data(), split), aad2(aad.data() + split, aad.size() - split);
      Bytes sealed(msg.size() + kTagLen, kFill);
      ASSERT_TRUE(a.Seal(iv, aad1, aad2, msg, sealed.data()).ok());
      EXPECT_EQ(sealed == ct_tag, valid) << "sealed ct||tag vs the vector";
      Bytes opened(body, kFill);
      const Status s = a.Open(iv, aad1, aad2, ct_tag, opened.data());
      if (valid) {
        EXPECT_TRUE(s.ok()) << kh_status_name(s.code());
        EXPECT_EQ(opened, msg);
      } else {
        EXPECT_EQ(s.code(), KH_E_AUTH_FAILED);
        EXPECT_TRUE(AllZero(opened.data(), opened.size())) << "plaintext left after a failed open";
      }
    }

    // In place: out == input exactly.
    Bytes buf(msg);
    buf.resize(msg.size() + kTagLen);
    ASSERT_TRUE(a.Seal(iv, {}, aad, ByteView(buf.data(), msg.size()), buf.data()).ok());
    EXPECT_EQ(buf == ct_tag, valid) << "in-place seal";
    buf = ct_tag;
    const Status s = a.Open(iv, {}, aad, buf, buf.data());
    if (valid) {
      EXPECT_TRUE(s.ok());
      EXPECT_TRUE(std::equal(msg.begin(), msg.end(), buf.begin())) << "in-place open";
    } else {
      EXPECT_EQ(s.code(), KH_E_AUTH_FAILED);
      EXPECT_TRUE(AllZero(buf.data(), body)) << "in-place open left plaintext";
    }
  });
  ft.Finish(/*expected_skipped=*/gcm ? 212 : 0);
}

TEST_P(AeadBackendTest, ContractEdges) {
  const bool gcm = GetParam().prim == Accelerated::kAes256Gcm;
  const Bytes key(64, 7);
  auto made = Make(GetParam(), ByteView(key.data(), 32));
  ASSERT_TRUE(made.ok());
  const Aead& a = **made;
  EXPECT_EQ(a.alg(), gcm ? KH_ALG_AES256_GCM : KH_ALG_CHACHA20_POLY1305);
  for (size_t n : {1, 12, 16, 128}) EXPECT_EQ(a.NonceLenOk(n), gcm || n == 12) << n;
  for (size_t n : {0, 129, 1000}) EXPECT_FALSE(a.NonceLenOk(n)) << n;
  const Bytes nonce(12, 1);
  uint8_t out[kTagLen];
  EXPECT_EQ(a.Open(nonce, {}, {}, ByteView(out, kTagLen - 1), out).code(), KH_E_AUTH_FAILED);
  for (size_t bad : {0, 16, 31, 33}) {
    EXPECT_EQ(Make(GetParam(), ByteView(key.data(), bad)).status().code(), KH_E_INVALID_ARGUMENT)
        << bad << "-byte key";
  }
}

// An empty message (only a tag), in place and with AAD split both ways: the
// library sees null or zero-length buffers, which it must accept.
TEST_P(AeadBackendTest, EmptyMessages) {
  const Bytes key(32, 5), nonce(12, 6), aad = {1, 2, 3, 4, 5, 6, 7, 8};
  auto made = Make(GetParam(), key);
  ASSERT_TRUE(made.ok());
  const Aead& a = **made;
  uint8_t tag1[kTagLen], tag2[kTagLen];
  ASSERT_TRUE(a.Seal(nonce, {}, {}, {}, tag1).ok());
  ASSERT_TRUE(a.Open(nonce, {}, {}, ByteView(tag1, kTagLen), nullptr).ok());
  ASSERT_TRUE(a.Seal(nonce, ByteView(aad.data(), 6), ByteView(aad.data() + 6, 2), {}, tag2).ok());
  ASSERT_TRUE(a.Open(nonce, {}, aad, ByteView(tag2, kTagLen), nullptr).ok());
  EXPECT_FALSE(std::equal(tag1, tag1 + kTagLen, tag2));
  tag2[0] ^= 1;
  EXPECT_EQ(a.Open(nonce, aad, {}, ByteView(tag2, kTagLen), nullptr).code(), KH_E_AUTH_FAILED);
}

// The accelerated backend enforces GCM's plaintext limit itself (the
// library's own check is 8x too permissive) without touching the buffers.
TEST(AesGcmIpsecMb, RefusesMessagesOverTheGcmLimitBeforeReading) {
  SKIP_WITHOUT_IPSEC_MB();
  auto a = aead::NewAes256GcmIpsecMb(Bytes(32, 3));
  ASSERT_TRUE(a.ok());
  const Bytes nonce(12, 1);
  uint8_t small[64] = {};
  constexpr size_t kOver = (size_t{1} << 36) - 31;  // one byte over 2^36 - 32
  // Spans over memory that is never read: the size check comes first.
  EXPECT_EQ((*a)->Seal(nonce, {}, {}, ByteView(small, kOver), small).code(), KH_E_TOO_LARGE);
  EXPECT_EQ((*a)->Open(nonce, {}, {}, ByteView(small, kOver + kTagLen), small).code(), KH_E_TOO_LARGE);
}

#if defined(__x86_64__) && __has_include(<intel-ipsec-mb.h>)
// Characterizes the library, not keyhold: intel-ipsec-mb 1.3 reports
// direct-API errors through one process-wide variable, so a manager that
// never failed reports another manager's error, and any later good call
// erases it. This is why ipsec_mb_gcm.cc validates every parameter itself
// and treats imb_get_errno as a fail-closed backstop. If this test fails
// after a library upgrade, the constraint may be gone: revisit decision 0011.
TEST(AesGcmIpsecMb, LibraryErrorReportIsProcessWide) {
  SKIP_WITHOUT_IPSEC_MB();
  IMB_MGR* a = alloc_mb_mgr(0);
  IMB_MGR* b = alloc_mb_mgr(0);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  init_mb_mgr_auto(a, nullptr);
  init_mb_mgr_auto(b, nullptr);
  ASSERT_EQ(imb_get_errno(a), 0);
  ASSERT_EQ(imb_get_errno(b), 0);
  gcm_context_data ctx;
  uint8_t iv[12] = {}, tag[16], buf[16] = {};
  IMB_AES256_GCM_ENC(a, nullptr, &ctx, buf, buf, sizeof(buf), iv, nullptr, 0, tag, 16);  // NULL key
  EXPECT_EQ(imb_get_errno(a), IMB_ERR_NULL_EXP_KEY);
  EXPECT_EQ(imb_get_errno(b), IMB_ERR_NULL_EXP_KEY) << "manager b never failed";
  alignas(64) gcm_key_data key;
  const uint8_t raw[32] = {1};
  IMB_AES256_GCM_PRE(b, raw, &key);
  IMB_AES256_GCM_ENC(b, &key, &ctx, buf, buf, sizeof(buf), iv, nullptr, 0, tag, 16);
  EXPECT_EQ(imb_get_errno(a), 0) << "b's good call erased a's error";
  OPENSSL_cleanse(&key, sizeof(key));
  free_mb_mgr(a);
  free_mb_mgr(b);
}
#endif

// ------------------------------------------------------------ differential

size_t RandomPlaintextSize(Rng& rng) {
  const uint64_t r = rng.Range(0, 99);
  if (r < 50) return rng.Range(0, 64);
  if (r < 75) return rng.Range(65, 1024);
  if (r < 90) return rng.Range(1025, 16384);
  if (r < 98) return rng.Range(16385, uint64_t{128} << 10);
  return rng.Range((uint64_t{128} << 10) + 1, uint64_t{1} << 20);
}

size_t RandomAadSize(Rng& rng) {
  const uint64_t r = rng.Range(0, 99);
  if (r < 60) return rng.Range(0, 32);
  if (r < 90) return rng.Range(33, 512);  // 256 bytes joined is the stack/heap boundary
  return rng.Range(513, 4096);
}

// OneCase seals pt on both backends and checks they agree byte for byte,
// opens each one's output on the other, then tampers with one thing and
// checks both refuse and zero their output.
void OneCase(const Aead& x, const Aead& y, Rng& rng, const Bytes& nonce, const Bytes& aad, size_t split,
             const Bytes& pt, bool in_place) {
  const ByteView a1(aad.data(), split), a2(aad.data() + split, aad.size() - split);
  const size_t n = pt.size();
  Bytes cx(n + kTagLen), cy(n + kTagLen);
  if (in_place) {
    std::copy(pt.begin(), pt.end(), cx.begin());
    ASSERT_TRUE(x.Seal(nonce, a1, a2, ByteView(cx.data(), n), cx.data()).ok());
  } else {
    ASSERT_TRUE(x.Seal(nonce, a1, a2, pt, cx.data()).ok());
  }
  ASSERT_TRUE(y.Seal(nonce, a1, a2, pt, cy.data()).ok());
  ASSERT_TRUE(cx == cy) << "the backends' ciphertexts differ";
  for (const Aead* opener : {&x, &y}) {
    Bytes back(cx);
    if (in_place) {
      ASSERT_TRUE(opener->Open(nonce, a1, a2, back, back.data()).ok());
      back.resize(n);
    } else {
      Bytes out(n);
      ASSERT_TRUE(opener->Open(nonce, a1, a2, cx, out.data()).ok());
      back = out;
    }
    ASSERT_TRUE(back == pt) << "open did not give the plaintext back";
  }

  // Tamper with the ciphertext, the tag, the AAD or the nonce, or truncate.
  Bytes t_ct(cx), t_aad(aad), t_nonce(nonce);
  switch (rng.Range(0, 4)) {
    case 0:
      if (n > 0) {
        t_ct[rng.Range(0, n - 1)] ^= static_cast<uint8_t>(1u << rng.Range(0, 7));
        break;
      }
      [[fallthrough]];
    case 1:
      t_ct[n + rng.Range(0, kTagLen - 1)] ^= static_cast<uint8_t>(1u << rng.Range(0, 7));
      break;
    case 2:
      if (!aad.empty()) {
        t_aad[rng.Range(0, aad.size() - 1)] ^= 0x80;
        break;
      }
      [[fallthrough]];
    case 3:
      t_nonce[rng.Range(0, nonce.size() - 1)] ^= 0x01;
      break;
    default:
      t_ct.pop_back();
      break;
  }
  const ByteView t1(t_aad.data(), split), t2(t_aad.data() + split, t_aad.size() - split);
  for (const Aead* opener : {&x, &y}) {
    const size_t m = t_ct.size() < kTagLen ? 0 : t_ct.size() - kTagLen;  // truncated below a tag
    Bytes out(m, kFill);
    ASSERT_EQ(opener->Open(t_nonce, t1, t2, t_ct, out.data()).code(), KH_E_AUTH_FAILED);
    ASSERT_TRUE(AllZero(out.data(), m)) << "plaintext left after a failed open";
  }
}

// The primitives with two backends, for tests that take both at once.
class AcceleratedTest : public ::testing::TestWithParam<Accelerated> {
 protected:
  void SetUp() override { SKIP_WITHOUT_IPSEC_MB(); }
  bool gcm() const { return GetParam() == Accelerated::kAes256Gcm; }
  const char* name() const { return gcm() ? "aes-gcm" : "chacha20-poly1305"; }
  Variant ipsec_mb() const { return {GetParam(), Backend::kIpsecMb}; }
  Variant openssl() const { return {GetParam(), Backend::kOpenSSL}; }
  // A nonce: 12 bytes mostly; AES-GCM also takes 1..128.
  Bytes Nonce(Rng& rng) const { return rng.Fill(!gcm() || rng.Chance(80) ? 12 : rng.Range(1, 128)); }
};

INSTANTIATE_TEST_SUITE_P(Each, AcceleratedTest,
                         ::testing::Values(Accelerated::kAes256Gcm, Accelerated::kChaCha20Poly1305),
                         [](const ::testing::TestParamInfo<Accelerated>& p) {
                           return std::string(p.param == Accelerated::kAes256Gcm ? "AesGcm"
                                                                                 : "ChaCha20Poly1305");
                         });

TEST_P(AcceleratedTest, DifferentialOpenSSLAgainstIpsecMb) {
  const uint64_t seed = TestSeed();
  std::printf("%s differential: seed %llu (KEYHOLD_TEST_SEED replays)\n", name(),
              static_cast<unsigned long long>(seed));
  Rng rng(seed);
  // Block, 64-byte and 48-block (the GCM bulk loop) boundaries first, then
  // random sizes weighted to small messages.
  std::vector<size_t> sizes = {0,     1,     15,    16,    17,    47,      48,           49,
                               63,    64,    65,    255,   256,   257,     767,          768,
                               769,   1023,  1024,  1025,  4095,  4096,    4097,         12287,
                               12288, 12289, 65535, 65536, 65537, 1 << 20, (1 << 20) - 1};
  constexpr size_t kCases = 4000;
  while (sizes.size() < kCases) sizes.push_back(RandomPlaintextSize(rng));
  size_t bytes = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const Bytes key = rng.Fill(32);
    auto mb = Make(ipsec_mb(), key);
    auto ossl = Make(openssl(), key);
    ASSERT_TRUE(mb.ok() && ossl.ok());
    const Bytes nonce = Nonce(rng);
    const Bytes aad = rng.Fill(RandomAadSize(rng));
    const size_t split = rng.Chance(40) ? 0 : rng.Range(0, aad.size());
    const Bytes pt = rng.Fill(sizes[i]);
    const bool in_place = rng.Chance(25);
    SCOPED_TRACE("case " + std::to_string(i) + ": pt " + std::to_string(pt.size()) + " B, nonce " +
                 std::to_string(nonce.size()) + " B, aad " + std::to_string(aad.size()) + " B split at " +
                 std::to_string(split) + (in_place ? ", in place" : "") + ", seed " + std::to_string(seed));
    // Alternate which backend seals in place.
    if (i % 2 == 0) {
      OneCase(**mb, **ossl, rng, nonce, aad, split, pt, in_place);
    } else {
      OneCase(**ossl, **mb, rng, nonce, aad, split, pt, in_place);
    }
    if (HasFatalFailure()) return;
    bytes += pt.size();
  }
  std::printf("%s differential: %zu cases, %zu plaintext bytes\n", name(), sizes.size(), bytes);
}

// With a nonce other than 12 bytes, J0 = GHASH(nonce) and the 32-bit block
// counter can wrap inside a message (SP 800-38D inc32). Find a 16-byte
// nonce whose first counter block is within 2^16 blocks of the wrap, then
// check both backends agree on a 1 MiB message that crosses it.
TEST(AesGcmBackends, CounterWrapInsideALongMessage) {
  SKIP_WITHOUT_IPSEC_MB();
  const uint64_t seed = TestSeed();
  Rng rng(seed);
  const Bytes key = rng.Fill(32);
  // inc32(J0) = AES-decrypt(first keystream block); the keystream is GCM's
  // ciphertext of a zero block.
  EVP_CIPHER_CTX* gcm = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* ecb = EVP_CIPHER_CTX_new();
  ASSERT_EQ(EVP_EncryptInit_ex(gcm, EVP_aes_256_gcm(), nullptr, nullptr, nullptr), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_AEAD_SET_IVLEN, 16, nullptr), 1);
  ASSERT_EQ(EVP_EncryptInit_ex(gcm, nullptr, nullptr, key.data(), nullptr), 1);
  ASSERT_EQ(EVP_DecryptInit_ex(ecb, EVP_aes_256_ecb(), nullptr, key.data(), nullptr), 1);
  EVP_CIPHER_CTX_set_padding(ecb, 0);
  constexpr uint32_t kBlocks = 1 << 16;  // 1 MiB
  Bytes nonce;
  uint32_t first = 0;
  for (int tries = 0; tries < (1 << 22) && nonce.empty(); ++tries) {
    const Bytes candidate = rng.Fill(16);
    uint8_t zero[16] = {}, ks[16], ctr[16];
    int l = 0;
    ASSERT_EQ(EVP_EncryptInit_ex(gcm, nullptr, nullptr, nullptr, candidate.data()), 1);
    ASSERT_EQ(EVP_EncryptUpdate(gcm, ks, &l, zero, 16), 1);
    ASSERT_EQ(EVP_DecryptUpdate(ecb, ctr, &l, ks, 16), 1);
    const uint32_t c =
        (uint32_t{ctr[12]} << 24) | (uint32_t{ctr[13]} << 16) | (uint32_t{ctr[14]} << 8) | ctr[15];
    if (c > UINT32_MAX - kBlocks + 1) {
      nonce = candidate;
      first = c;
    }
  }
  EVP_CIPHER_CTX_free(gcm);
  EVP_CIPHER_CTX_free(ecb);
  ASSERT_FALSE(nonce.empty()) << "no nonce near the counter wrap found (seed " << seed << ")";
  std::printf("aes-gcm counter wrap: first counter 0x%08x, wraps after %u of %u blocks\n", first,
              UINT32_MAX - first + 1, kBlocks + 1);
  auto mb = aead::NewAes256GcmIpsecMb(key);
  auto ossl = aead::NewAes256GcmOpenSSL(key);
  ASSERT_TRUE(mb.ok() && ossl.ok());
  const Bytes aad = rng.Fill(20), pt = rng.Fill((size_t{kBlocks} << 4) + 13);
  OneCase(**mb, **ossl, rng, nonce, aad, 6, pt, false);
  OneCase(**ossl, **mb, rng, nonce, aad, 0, pt, true);
}

// ----------------------------------------------------------------- threads

// Many threads share one accelerated key (and make their own), each on its
// own manager, created concurrently; every output is checked against
// OpenSSL. Threads come and go so managers are also created and freed
// concurrently.
TEST_P(AcceleratedTest, ManyThreadsShareOneAcceleratedKey) {
  Rng rng(TestSeed());
  const Bytes key = rng.Fill(32);
  auto shared = Make(ipsec_mb(), key);
  auto ossl = Make(openssl(), key);
  ASSERT_TRUE(shared.ok() && ossl.ok());
  struct Msg {
    Bytes nonce, aad, pt, want;
  };
  std::vector<Msg> msgs(48);
  for (size_t i = 0; i < msgs.size(); ++i) {
    Msg& m = msgs[i];
    m.nonce = rng.Fill(gcm() && i % 3 == 0 ? 16 : 12);
    m.aad = rng.Fill(rng.Range(0, 300));
    m.pt = rng.Fill(i == 0 ? 0 : rng.Range(1, i % 8 == 0 ? 65536 : 2048));
    m.want.resize(m.pt.size() + kTagLen);
    ASSERT_TRUE((*ossl)->Seal(m.nonce, {}, m.aad, m.pt, m.want.data()).ok());
  }
  constexpr int kRounds = 3;
  constexpr int kThreads = 8;
  constexpr int kIters = 150;
  std::atomic<int> bad{0};
  std::atomic<long> ops{0};
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        // Half the threads also make their own key from the same bytes.
        std::unique_ptr<Aead> own;
        if (t % 2 == 1) {
          auto k = Make(ipsec_mb(), key);
          if (!k.ok()) {
            ++bad;
            return;
          }
          own = std::move(k).value();
        }
        const Aead& a = own ? *own : **shared;
        for (int i = 0; i < kIters; ++i) {
          const Msg& m = msgs[(static_cast<size_t>(t) * 7 + i) % msgs.size()];
          const size_t split = std::min<size_t>(6, m.aad.size());
          const ByteView a1(m.aad.data(), split), a2(m.aad.data() + split, m.aad.size() - split);
          Bytes ct(m.want.size()), back(m.pt.size());
          if (!a.Seal(m.nonce, a1, a2, m.pt, ct.data()).ok() || ct != m.want) ++bad;
          if (!a.Open(m.nonce, a1, a2, ct, back.data()).ok() || back != m.pt) ++bad;
          ct[ct.size() - 1] ^= 1;
          if (a.Open(m.nonce, a1, a2, ct, back.data()).code() != KH_E_AUTH_FAILED) ++bad;
          ops += 3;
        }
      });
    }
    go = true;
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(bad.load(), 0);
  std::printf("%s threads: %ld operations on %d threads x %d rounds\n", name(), ops.load(), kThreads,
              kRounds);
}

// -------------------------------------------------------- selection, report

nlohmann::json RuntimeInfo() { return nlohmann::json::parse(kh_runtime_info(), nullptr, false); }

// The report's keys for one primitive.
struct Report {
  Accelerated prim;
  const char* variable;
  const char* backend_key;
  const char* requested_key;
  const char* reason_key;
};
constexpr Report kReports[] = {
    {Accelerated::kAes256Gcm, "KEYHOLD_AESGCM_BACKEND", "aes256_gcm_backend", "aes256_gcm_requested",
     "ipsec_mb_disabled_reason"},
    {Accelerated::kChaCha20Poly1305, "KEYHOLD_CHACHA20_POLY1305_BACKEND", "chacha20_poly1305_backend",
     "chacha20_poly1305_requested", "chacha20_poly1305_ipsec_mb_disabled_reason"},
};

StatusOr<std::unique_ptr<Aead>> MakeSelected(Accelerated prim, ByteView key) {
  return prim == Accelerated::kAes256Gcm ? aead::NewAes256Gcm(key) : aead::NewChaCha20Poly1305(key);
}

TEST(AeadRuntimeInfo, ReportsTheSelectedBackends) {
  const char* text = kh_runtime_info();
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(kh_runtime_info(), text) << "a static string";
  const auto j = RuntimeInfo();
  ASSERT_TRUE(j.is_object()) << text;
  for (const char* k : {"ipsec_mb_arch", "ipsec_mb_version", "self_test"}) {
    ASSERT_TRUE(j.contains(k) && j[k].is_string()) << k;
  }
  ASSERT_TRUE(j.contains("ipsec_mb_vaes") && j["ipsec_mb_vaes"].is_boolean());
  EXPECT_EQ(j["self_test"], "passed");
  EXPECT_EQ(j["ipsec_mb_version"], aead::IpsecMbVersion());
  bool any_probed = false;
  for (const Report& r : kReports) {
    SCOPED_TRACE(r.variable);
    for (const char* k : {r.backend_key, r.requested_key, r.reason_key}) {
      ASSERT_TRUE(j.contains(k) && j[k].is_string()) << k;
    }
    const char* env = std::getenv(r.variable);
    const std::string requested = env == nullptr || *env == '\0' ? "auto" : env;
    EXPECT_EQ(j[r.requested_key], requested);
    const bool mb = j[r.backend_key] == "ipsec-mb";
    if (requested == "openssl") {
      EXPECT_FALSE(mb);
      EXPECT_EQ(j[r.reason_key], std::string(r.variable) + "=openssl");
    } else if (IpsecMbRuns()) {
      any_probed = true;
      EXPECT_TRUE(mb) << text;
      EXPECT_EQ(j[r.reason_key], "");
    } else {
      EXPECT_FALSE(mb);
      EXPECT_NE(j[r.reason_key], "");
    }
    // Keys made now use the reported backend.
    EXPECT_EQ(aead::CurrentBackend(r.prim) == Backend::kIpsecMb, mb);
    auto k = MakeSelected(r.prim, Bytes(32, 9));
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(dynamic_cast<const aead::EvpAead*>(k->get()) == nullptr, mb);
  }
  if (any_probed) {
    EXPECT_EQ(j["ipsec_mb_arch"], aead::ProbeIpsecMb().arch);
    EXPECT_EQ(j["ipsec_mb_vaes"], aead::ProbeIpsecMb().vaes);
  } else if (IpsecMbRuns()) {
    EXPECT_EQ(j["ipsec_mb_arch"], "") << "not probed when OpenSSL is forced for both";
  }
}

using testing::ScopedEnv;

TEST(AeadRuntimeInfo, InvalidBackendVariableIsRefusedAtEngineOpen) {
  for (const Report& r : kReports) {
    for (const char* bad : {"fast", "OpenSSL", "ipsec_mb", "auto "}) {
      ScopedEnv env(r.variable, bad);
      kh_handle e = 1;
      EXPECT_EQ(kh_engine_open(&e), KH_E_INVALID_ARGUMENT) << r.variable << "=" << bad;
      EXPECT_EQ(e, 0u);
    }
  }
  aead::Preference p;
  EXPECT_TRUE(aead::ParsePreference(nullptr, &p).ok());
  EXPECT_EQ(p, aead::Preference::kAuto);
  EXPECT_TRUE(aead::ParsePreference("", &p).ok());
  EXPECT_EQ(p, aead::Preference::kAuto);
  EXPECT_TRUE(aead::ParsePreference("ipsec-mb", &p).ok());
  EXPECT_EQ(p, aead::Preference::kIpsecMb);
  EXPECT_TRUE(aead::ParsePreference("openssl", &p).ok());
  EXPECT_EQ(p, aead::Preference::kOpenSSL);
}

// The selection is once per process, so these run in child processes
// (death-test style "threadsafe" re-executes the binary: a fresh process).
// Each returns 0 or the number of the check that failed.

void SetBothVariables(const char* value) {
  for (const Report& r : kReports) setenv(r.variable, value, 1);
}

int SealOpenThroughTheAbi() {
  kh_handle e = 0;
  if (kh_engine_open(&e) != KH_OK) return 50;
  for (kh_alg alg : {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305}) {
    kh_handle ks = 0;
    if (kh_keyset_generate(e, alg, 0, &ks) != KH_OK) return 51;
    uint8_t pt[100] = {1, 2, 3}, ct[200], back[200];
    size_t n = 0, m = 0;
    if (kh_aead_encrypt(ks, pt, sizeof pt, pt, 5, ct, sizeof ct, &n) != KH_OK) return 52;
    if (kh_aead_decrypt(ks, ct, n, pt, 5, back, sizeof back, &m) != KH_OK) return 53;
    if (m != sizeof pt || std::memcmp(back, pt, m) != 0) return 54;
  }
  if (kh_engine_close(e) != KH_OK) return 55;
  return 0;
}

int DisagreementChild(const char* requested) {
  SetBothVariables(requested);
  selftest::ForceAcceleratedMismatchForTesting();
  kh_handle e = 0;
  const kh_status open = kh_engine_open(&e);
  const auto j = RuntimeInfo();
  if (!j.is_object()) return 10;
  if (j["self_test"] != "passed") return 11;
  for (const Report& r : kReports) {
    if (j[r.backend_key] != "openssl") return 12;
    if (j[r.reason_key] != "self-test: disagrees with OpenSSL") return 13;
    if (aead::CurrentBackend(r.prim) != Backend::kOpenSSL) return 14;
  }
  if (std::strcmp(requested, "ipsec-mb") == 0) {
    // Required but disabled: the engine refuses to open, nothing else fails.
    if (open != KH_E_UNSUPPORTED || e != 0) return 15;
    kh_alg_sizes sz{};
    if (kh_alg_sizes_get(KH_ALG_AES256_GCM, &sz) != KH_OK) return 16;
    return 0;
  }
  if (open != KH_OK || kh_engine_close(e) != KH_OK) return 17;
  return SealOpenThroughTheAbi();
}

int ForcedChild(const char* requested, const char* want_backend) {
  SetBothVariables(requested);
  if (int r = SealOpenThroughTheAbi(); r != 0) return r;
  const auto j = RuntimeInfo();
  if (!j.is_object()) return 20;
  for (const Report& r : kReports) {
    if (j[r.backend_key] != want_backend) return 21;
    if (j[r.requested_key] != requested) return 22;
    if (std::strcmp(want_backend, "ipsec-mb") == 0 && j[r.reason_key] != "") return 23;
  }
  if (std::strcmp(requested, "openssl") == 0 && j["ipsec_mb_arch"] != "") return 24;
  return 0;
}

TEST(AeadSelectionDeathTest, DisagreementDisablesTheAcceleratedBackendNotTheEngine) {
  SKIP_WITHOUT_IPSEC_MB();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(DisagreementChild("auto")), ::testing::ExitedWithCode(0), "");
}

TEST(AeadSelectionDeathTest, RequiredAcceleratedBackendThatIsDisabledRefusesTheEngine) {
  SKIP_WITHOUT_IPSEC_MB();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(DisagreementChild("ipsec-mb")), ::testing::ExitedWithCode(0), "");
}

TEST(AeadSelectionDeathTest, OpenSSLForcedByTheEnvironment) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(ForcedChild("openssl", "openssl")), ::testing::ExitedWithCode(0), "");
}

TEST(AeadSelectionDeathTest, IpsecMbRequiredByTheEnvironment) {
  SKIP_WITHOUT_IPSEC_MB();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(ForcedChild("ipsec-mb", "ipsec-mb")), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace keyhold
