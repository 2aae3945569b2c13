// Streaming AEAD (docs/spec/stream.md): golden vectors, round trips through
// the C ABI, every malformed or hostile stream of the spec's section 6, and
// the ABI rules for stream handles.
#include "stream/stream.h"

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "keyset/keyset.h"
#include "test_util.h"

namespace keyhold {
namespace {

using keyhold::testing::EngineFixture;
using keyhold::testing::Hex;
using keyhold::testing::ReadFile;
using Bytes = std::vector<uint8_t>;

constexpr size_t kHdr = KH_STREAM_HEADER_LEN;
constexpr size_t kTag = KH_STREAM_TAG_LEN;

// ---------------------------------------------------------------- golden

struct Golden {
  std::string alg, name;
  bool raw;
  Bytes key, salt, prefix, aad, pt, stream;
  uint32_t key_id, segment_size;
};

std::vector<Golden> LoadGolden() {
  auto doc = nlohmann::json::parse(ReadFile(KEYHOLD_TESTDATA_DIR "/golden/stream_v1.json"));
  std::vector<Golden> out;
  for (const auto& v : doc["vectors"]) {
    out.push_back({v["alg"], v["name"], v["raw"].get<bool>(), Hex(v["key"]), Hex(v["salt"]),
                   Hex(v["nonce_prefix"]), Hex(v["aad"]), Hex(v["plaintext"]), Hex(v["stream"]),
                   v["key_id"].get<uint32_t>(), v["segment_size"].get<uint32_t>()});
  }
  return out;
}

kh_alg AlgByName(const std::string& name) {
  for (uint32_t a = 1; a < 4; ++a) {
    if (name == kh_alg_name(static_cast<kh_alg>(a))) return static_cast<kh_alg>(a);
  }
  ADD_FAILURE() << "unknown alg " << name;
  return KH_ALG_AES256_GCM;
}

std::unique_ptr<keyset::Keyset> GoldenKeyset(const Golden& g) {
  if (g.raw) {
    auto ks = keyset::Keyset::ImportRaw(AlgByName(g.alg), g.key);
    EXPECT_TRUE(ks.ok());
    return ks.ok() ? std::move(ks).value() : nullptr;
  }
  keyset::Keyset::RestoredKey k{g.key_id, KH_KEY_ENABLED, g.key, 0};
  auto ks = keyset::Keyset::Restore(AlgByName(g.alg), 0, std::span(&k, 1), g.key_id, 0);
  EXPECT_TRUE(ks.ok());
  return ks.ok() ? std::move(ks).value() : nullptr;
}

TEST(StreamGolden, EveryVectorDecryptsAndReencodesByteForByte) {
  const auto vectors = LoadGolden();
  ASSERT_GE(vectors.size(), 31u);
  for (const Golden& g : vectors) {
    SCOPED_TRACE(g.alg + "/" + g.name + (g.raw ? "/raw" : "/managed"));
    auto ks = GoldenKeyset(g);
    ASSERT_NE(ks, nullptr);
    // Decrypt: the whole body in one call, then segment by segment.
    auto dec = stream::Stream::NewDecrypter(*ks, ByteView(g.stream).first(kHdr), g.aad);
    ASSERT_TRUE(dec.ok()) << Status(dec.status()).code();
    const ByteView body = ByteView(g.stream).subspan(kHdr);
    stream::Plan plan;
    ASSERT_TRUE((*dec)->OpenPlan(0, true, body.size(), &plan).ok());
    Bytes pt(plan.out_len + 1);
    ASSERT_TRUE((*dec)->Open(0, true, body, plan, pt.data()).ok());
    pt.resize(plan.out_len);
    EXPECT_EQ(pt, g.pt);
    // Encrypt with the vector's salt and prefix: the same bytes.
    auto enc = stream::Stream::NewEncrypter(*ks, g.aad, g.segment_size, g.salt, g.prefix);
    ASSERT_TRUE(enc.ok());
    ASSERT_TRUE((*enc)->SealPlan(0, true, g.pt.size(), &plan).ok());
    Bytes ct(plan.out_len);
    ASSERT_TRUE((*enc)->Seal(0, true, g.pt, plan, ct.data()).ok());
    Bytes full((*enc)->header().begin(), (*enc)->header().end());
    full.insert(full.end(), ct.begin(), ct.end());
    EXPECT_EQ(full, g.stream);
  }
}

TEST_F(EngineFixture, StreamGoldenRawVectorsThroughTheAbi) {
  int checked = 0;
  for (const Golden& g : LoadGolden()) {
    if (!g.raw) continue;
    SCOPED_TRACE(g.alg + "/" + g.name);
    kh_handle ks = 0;
    ASSERT_EQ(kh_keyset_import_raw(engine_, AlgByName(g.alg), g.key.data(), g.key.size(), &ks), KH_OK);
    kh_handle s = 0;
    ASSERT_EQ(kh_stream_decrypt_begin(ks, g.stream.data(), kHdr, g.aad.data(), g.aad.size(), &s), KH_OK);
    Bytes pt(g.pt.size() + 1);
    size_t n = 0;
    ASSERT_EQ(
        kh_stream_open(s, 0, 1, g.stream.data() + kHdr, g.stream.size() - kHdr, pt.data(), pt.size(), &n),
        KH_OK);
    pt.resize(n);
    EXPECT_EQ(pt, g.pt);
    EXPECT_EQ(kh_handle_close(s), KH_OK);
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
    ++checked;
  }
  EXPECT_GE(checked, 16);
}

// ------------------------------------------------------------- helpers

// Encrypt runs a whole stream through the ABI, sealing `per_call` segments
// per crossing.
Bytes Encrypt(kh_handle ks, const Bytes& pt, const Bytes& aad, uint32_t seg, size_t per_call = 1) {
  Bytes out(kHdr);
  size_t hl = 0;
  kh_handle s = 0;
  EXPECT_EQ(kh_stream_encrypt_begin(ks, aad.data(), aad.size(), seg, out.data(), out.size(), &hl, &s), KH_OK);
  EXPECT_EQ(hl, kHdr);
  if (seg == 0) seg = KH_STREAM_SEGMENT_DEFAULT;
  uint64_t index = 0;
  size_t off = 0;
  for (;;) {
    const size_t rest = pt.size() - off;
    const bool last = rest <= per_call * seg;
    const size_t n = last ? rest : per_call * seg;
    Bytes ct(n + (n / seg + 1) * kTag);
    size_t got = 0;
    EXPECT_EQ(kh_stream_seal(s, index, last ? 1 : 0, pt.data() + off, n, ct.data(), ct.size(), &got), KH_OK);
    out.insert(out.end(), ct.begin(), ct.begin() + static_cast<std::ptrdiff_t>(got));
    if (last) break;
    index += per_call;
    off += n;
  }
  EXPECT_EQ(kh_handle_close(s), KH_OK);
  return out;
}

// Decrypt reads a stream as a sequential reader does: the header, then
// every full segment but the final one non-last, the final one last.
kh_status Decrypt(kh_handle ks, const Bytes& in, const Bytes& aad, Bytes* pt) {
  pt->clear();
  kh_handle s = 0;
  kh_status st =
      kh_stream_decrypt_begin(ks, in.data(), std::min(in.size(), kHdr), aad.data(), aad.size(), &s);
  if (st != KH_OK) return st;
  kh_stream_info info{};
  EXPECT_EQ(kh_stream_info_get(s, &info), KH_OK);
  const size_t c = size_t{info.segment_size} + kTag;
  size_t off = kHdr;
  for (uint64_t i = 0;; ++i) {
    const bool last = in.size() - off <= c;
    const size_t n = last ? in.size() - off : c;
    Bytes seg(info.segment_size);
    size_t got = 0;
    st = kh_stream_open(s, i, last ? 1 : 0, in.data() + off, n, seg.data(), seg.size(), &got);
    if (st != KH_OK) break;
    pt->insert(pt->end(), seg.begin(), seg.begin() + static_cast<std::ptrdiff_t>(got));
    if (last) break;
    off += n;
  }
  EXPECT_EQ(kh_handle_close(s), KH_OK);
  return st;
}

Bytes Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

constexpr kh_alg kAlgs[] = {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305};

// ---------------------------------------------------------- round trips

TEST_F(EngineFixture, StreamRoundTripsEverySizeAroundSegmentBoundaries) {
  for (kh_alg alg : kAlgs) {
    SCOPED_TRACE(kh_alg_name(alg));
    kh_handle ks = Generate(alg);
    const Bytes aad = {'a', 'd'};
    for (size_t n :
         {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{128}, size_t{129}, size_t{1000}}) {
      for (size_t per_call : {size_t{1}, size_t{3}}) {
        SCOPED_TRACE(n);
        const Bytes pt = Random(n, static_cast<uint32_t>(n));
        const Bytes ct = Encrypt(ks, pt, aad, 64, per_call);
        const size_t segs = n == 0 ? 1 : (n + 63) / 64;
        EXPECT_EQ(ct.size(), kHdr + n + segs * kTag);
        Bytes back;
        ASSERT_EQ(Decrypt(ks, ct, aad, &back), KH_OK);
        EXPECT_EQ(back, pt);
      }
    }
    // The default segment size and a large one.
    const Bytes pt = Random(200000, 7);
    for (uint32_t seg : {0u, 65536u, 1u << 20}) {
      Bytes back;
      ASSERT_EQ(Decrypt(ks, Encrypt(ks, pt, {}, seg), {}, &back), KH_OK);
      EXPECT_EQ(back, pt);
    }
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
}

TEST_F(EngineFixture, StreamMultiSegmentOpenEqualsSingleSegmentOpens) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  const Bytes pt = Random(64 * 10 + 5, 3);
  const Bytes ct = Encrypt(ks, pt, {}, 64, 4);
  kh_handle s = 0;
  ASSERT_EQ(kh_stream_decrypt_begin(ks, ct.data(), kHdr, nullptr, 0, &s), KH_OK);
  // All eleven segments in one call.
  Bytes all(pt.size());
  size_t n = 0;
  ASSERT_EQ(kh_stream_open(s, 0, 1, ct.data() + kHdr, ct.size() - kHdr, all.data(), all.size(), &n), KH_OK);
  EXPECT_EQ(n, pt.size());
  EXPECT_EQ(all, pt);
  // Segments 3..5 (not last) in one call: random access.
  Bytes mid(3 * 64);
  ASSERT_EQ(kh_stream_open(s, 3, 0, ct.data() + kHdr + 3 * 80, 3 * 80, mid.data(), mid.size(), &n), KH_OK);
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), pt.begin() + 3 * 64));
  EXPECT_EQ(kh_handle_close(s), KH_OK);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(EngineFixture, StreamFromAnOldKeyDecryptsAfterRotationAndNamesItsKey) {
  kh_handle ks = Generate(KH_ALG_CHACHA20_POLY1305);
  kh_keyset_info before{};
  ASSERT_EQ(kh_keyset_info_get(ks, &before), KH_OK);
  const Bytes pt = Random(300, 1);
  const Bytes ct = Encrypt(ks, pt, {}, 64);
  EXPECT_EQ(ct[0], 0x81);
  EXPECT_EQ(ct[1], KH_ALG_CHACHA20_POLY1305);
  EXPECT_EQ((uint32_t{ct[2]} << 24) | (uint32_t{ct[3]} << 16) | (uint32_t{ct[4]} << 8) | ct[5],
            before.primary_key_id);
  uint32_t id = 0;
  ASSERT_EQ(kh_keyset_rotate(ks, &id), KH_OK);
  Bytes back;
  ASSERT_EQ(Decrypt(ks, ct, {}, &back), KH_OK);
  EXPECT_EQ(back, pt);
  ASSERT_EQ(kh_keyset_disable(ks, before.primary_key_id), KH_OK);
  EXPECT_EQ(Decrypt(ks, ct, {}, &back), KH_E_KEY_DISABLED);
  ASSERT_EQ(kh_keyset_destroy_key(ks, before.primary_key_id), KH_OK);
  EXPECT_EQ(Decrypt(ks, ct, {}, &back), KH_E_KEY_DESTROYED);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST_F(EngineFixture, StreamCountsOneUsePerStream) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  (void)Encrypt(ks, Random(1000, 1), {}, 64);
  (void)Encrypt(ks, Random(10, 1), {}, 64);
  kh_key_info ki{};
  ASSERT_EQ(kh_keyset_key_info_get(ks, 0, &ki), KH_OK);
  EXPECT_EQ(ki.use_count, 2u);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

// ---------------------------------------------------------- adversarial

class StreamAttack : public EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    ks_ = Generate(KH_ALG_AES256_GCM);
    pt_ = Random(64 * 3 + 20, 9);  // four segments: 64, 64, 64, 20
    ct_ = Encrypt(ks_, pt_, aad_, 64);
    ASSERT_EQ(ct_.size(), kHdr + 4 * 80 + 20 - 64);
  }
  void TearDown() override {
    EXPECT_EQ(kh_handle_close(ks_), KH_OK);
    EngineFixture::TearDown();
  }
  kh_status Try(const Bytes& in) {
    Bytes out;
    return Decrypt(ks_, in, aad_, &out);
  }
  Bytes Segment(size_t i) const {
    const size_t off = kHdr + i * 80;
    return Bytes(ct_.begin() + static_cast<std::ptrdiff_t>(off),
                 ct_.begin() + static_cast<std::ptrdiff_t>(std::min(off + 80, ct_.size())));
  }
  Bytes Assemble(std::initializer_list<Bytes> parts) const {
    Bytes out(ct_.begin(), ct_.begin() + kHdr);
    for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  }
  kh_handle ks_ = 0;
  Bytes aad_ = {'c', 't', 'x'};
  Bytes pt_, ct_;
};

TEST_F(StreamAttack, IntactStreamDecrypts) {
  Bytes out;
  ASSERT_EQ(Decrypt(ks_, ct_, aad_, &out), KH_OK);
  EXPECT_EQ(out, pt_);
}

TEST_F(StreamAttack, TruncationAtEverySegmentBoundaryFails) {
  for (size_t segs = 0; segs < 4; ++segs) {
    Bytes cut(ct_.begin(), ct_.begin() + static_cast<std::ptrdiff_t>(kHdr + segs * 80));
    EXPECT_EQ(Try(cut), KH_E_AUTH_FAILED) << segs << " segments kept";
  }
}

TEST_F(StreamAttack, TruncationAtEveryLengthFails) {
  for (size_t n = 0; n < ct_.size(); ++n) {
    Bytes cut(ct_.begin(), ct_.begin() + static_cast<std::ptrdiff_t>(n));
    const kh_status want = n < kHdr ? KH_E_MALFORMED : KH_E_AUTH_FAILED;
    EXPECT_EQ(Try(cut), want) << "length " << n;
  }
}

TEST_F(StreamAttack, ExtendedStreamFails) {
  Bytes longer = ct_;
  longer.push_back(0);
  EXPECT_EQ(Try(longer), KH_E_AUTH_FAILED);
  EXPECT_EQ(Try(Assemble({Segment(0), Segment(1), Segment(2), Segment(3), Segment(3)})), KH_E_AUTH_FAILED);
}

TEST_F(StreamAttack, ReorderedDuplicatedOrDroppedSegmentsFail) {
  EXPECT_EQ(Try(Assemble({Segment(1), Segment(0), Segment(2), Segment(3)})), KH_E_AUTH_FAILED);
  EXPECT_EQ(Try(Assemble({Segment(0), Segment(0), Segment(2), Segment(3)})), KH_E_AUTH_FAILED);
  EXPECT_EQ(Try(Assemble({Segment(0), Segment(2), Segment(1), Segment(3)})), KH_E_AUTH_FAILED);
  EXPECT_EQ(Try(Assemble({Segment(0), Segment(2), Segment(3)})), KH_E_AUTH_FAILED);
  EXPECT_EQ(Try(Assemble({Segment(0), Segment(1), Segment(2)})), KH_E_AUTH_FAILED);
}

TEST_F(StreamAttack, SegmentFromAnotherStreamFails) {
  // Same key, same aad, same plaintext, same segment size: only the salt
  // and prefix differ.
  const Bytes other = Encrypt(ks_, pt_, aad_, 64);
  for (size_t i = 0; i < 4; ++i) {
    std::vector<Bytes> segs = {Segment(0), Segment(1), Segment(2), Segment(3)};
    const size_t off = kHdr + i * 80;
    segs[i] = Bytes(other.begin() + static_cast<std::ptrdiff_t>(off),
                    other.begin() + static_cast<std::ptrdiff_t>(std::min(off + 80, other.size())));
    EXPECT_EQ(Try(Assemble({segs[0], segs[1], segs[2], segs[3]})), KH_E_AUTH_FAILED) << i;
  }
  // Its header in front of this stream's segments.
  Bytes spliced(other.begin(), other.begin() + kHdr);
  spliced.insert(spliced.end(), ct_.begin() + kHdr, ct_.end());
  EXPECT_EQ(Try(spliced), KH_E_AUTH_FAILED);
}

TEST_F(StreamAttack, EveryBitFlipFailsWithTheStatusOfItsField) {
  for (size_t i = 0; i < ct_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = ct_;
      bad[i] ^= static_cast<uint8_t>(1u << bit);
      const kh_status st = Try(bad);
      if (i == 0) {
        EXPECT_EQ(st, KH_E_UNSUPPORTED) << i;
      } else if (i == 1) {
        EXPECT_EQ(st, KH_E_MALFORMED) << i;
      } else if (i < 6) {
        EXPECT_EQ(st, KH_E_UNKNOWN_KEY) << i;
      } else if (i < 10) {
        // The segment size: out of range, or in range and then the
        // segments no longer line up (or the key differs).
        EXPECT_TRUE(st == KH_E_MALFORMED || st == KH_E_AUTH_FAILED) << i << " " << st;
      } else {
        EXPECT_EQ(st, KH_E_AUTH_FAILED) << i << " bit " << bit;
      }
    }
  }
}

TEST_F(StreamAttack, WrongKeyOrAadFails) {
  Bytes out;
  EXPECT_EQ(Decrypt(ks_, ct_, {'x'}, &out), KH_E_AUTH_FAILED);
  EXPECT_EQ(Decrypt(ks_, ct_, {}, &out), KH_E_AUTH_FAILED);
  // Another managed keyset does not hold the key id.
  kh_handle other = Generate(KH_ALG_AES256_GCM);
  EXPECT_EQ(Decrypt(other, ct_, aad_, &out), KH_E_UNKNOWN_KEY);
  EXPECT_EQ(kh_handle_close(other), KH_OK);
  // Raw keysets: same key id (0), other key.
  const Bytes k1 = Random(32, 1), k2 = Random(32, 2);
  kh_handle r1 = 0, r2 = 0;
  ASSERT_EQ(kh_keyset_import_raw(engine_, KH_ALG_AES256_GCM, k1.data(), k1.size(), &r1), KH_OK);
  ASSERT_EQ(kh_keyset_import_raw(engine_, KH_ALG_AES256_GCM, k2.data(), k2.size(), &r2), KH_OK);
  const Bytes ct = Encrypt(r1, pt_, aad_, 64);
  EXPECT_EQ(Decrypt(r1, ct, aad_, &out), KH_OK);
  EXPECT_EQ(Decrypt(r2, ct, aad_, &out), KH_E_AUTH_FAILED);
  // A raw stream (key id 0) in a managed keyset, and the reverse.
  EXPECT_EQ(Decrypt(ks_, ct, aad_, &out), KH_E_UNKNOWN_KEY);
  EXPECT_EQ(Decrypt(r1, ct_, aad_, &out), KH_E_UNKNOWN_KEY);
  // Another algorithm's keyset.
  kh_handle chacha = Generate(KH_ALG_CHACHA20_POLY1305);
  EXPECT_EQ(Decrypt(chacha, ct_, aad_, &out), KH_E_MALFORMED);
  EXPECT_EQ(kh_handle_close(chacha), KH_OK);
  EXPECT_EQ(kh_handle_close(r1), KH_OK);
  EXPECT_EQ(kh_handle_close(r2), KH_OK);
}

TEST_F(StreamAttack, EmptyStreams) {
  // A valid empty stream: the header and one empty last segment.
  const Bytes empty = Encrypt(ks_, {}, aad_, 64);
  EXPECT_EQ(empty.size(), kHdr + kTag);
  Bytes out = {1};
  EXPECT_EQ(Decrypt(ks_, empty, aad_, &out), KH_OK);
  EXPECT_TRUE(out.empty());
  // Nothing at all; the header alone; an empty segment after a full one.
  EXPECT_EQ(Try({}), KH_E_MALFORMED);
  EXPECT_EQ(Try(Bytes(ct_.begin(), ct_.begin() + kHdr)), KH_E_AUTH_FAILED);
  // An empty final segment after others is refused before any cipher runs.
  kh_handle s = 0;
  ASSERT_EQ(kh_stream_decrypt_begin(ks_, ct_.data(), kHdr, aad_.data(), aad_.size(), &s), KH_OK);
  Bytes tag(kTag), o(64);
  size_t n = 5;
  EXPECT_EQ(kh_stream_open(s, 4, 1, tag.data(), tag.size(), o.data(), o.size(), &n), KH_E_AUTH_FAILED);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(kh_handle_close(s), KH_OK);
}

TEST_F(StreamAttack, FailedOpenWritesNothing) {
  kh_handle s = 0;
  ASSERT_EQ(kh_stream_decrypt_begin(ks_, ct_.data(), kHdr, aad_.data(), aad_.size(), &s), KH_OK);
  Bytes body(ct_.begin() + kHdr, ct_.end());
  body.back() ^= 1;  // the last segment's tag: the first three authenticate
  Bytes out(pt_.size(), 0xAA);
  size_t n = 7;
  EXPECT_EQ(kh_stream_open(s, 0, 1, body.data(), body.size(), out.data(), out.size(), &n), KH_E_AUTH_FAILED);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(out, Bytes(pt_.size(), 0));
  EXPECT_EQ(kh_handle_close(s), KH_OK);
}

// ---------------------------------------------------------- ABI rules

TEST_F(EngineFixture, StreamAbiMisuse) {
  kh_handle ks = Generate(KH_ALG_AES256_GCM);
  kh_handle mac = Generate(KH_ALG_HMAC_SHA256);
  uint8_t hdr[kHdr];
  size_t hl = 0;
  kh_handle s = 0;
  // Sizes and arguments.
  EXPECT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, 0, hdr, kHdr - 1, &hl, &s), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(hl, kHdr);
  EXPECT_EQ(s, 0u);
  kh_key_info ki{};
  ASSERT_EQ(kh_keyset_key_info_get(ks, 0, &ki), KH_OK);
  EXPECT_EQ(ki.use_count, 0u) << "a refused begin must not count a use";
  EXPECT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, 63, hdr, kHdr, &hl, &s), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, (1u << 24) + 1, hdr, kHdr, &hl, &s),
            KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_encrypt_begin(ks, nullptr, 5, 0, hdr, kHdr, &hl, &s), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, 0, hdr, kHdr, &hl, nullptr), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_stream_encrypt_begin(mac, nullptr, 0, 0, hdr, kHdr, &hl, &s), KH_E_WRONG_PRIMITIVE);
  EXPECT_EQ(kh_stream_encrypt_begin(0, nullptr, 0, 0, hdr, kHdr, &hl, &s), KH_E_STALE_HANDLE);
  EXPECT_EQ(kh_stream_encrypt_begin(engine_, nullptr, 0, 0, hdr, kHdr, &hl, &s), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(kh_stream_decrypt_begin(ks, hdr, kHdr - 1, nullptr, 0, &s), KH_E_MALFORMED);

  ASSERT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, 64, hdr, kHdr, &hl, &s), KH_OK);
  kh_stream_info info{};
  ASSERT_EQ(kh_stream_info_get(s, &info), KH_OK);
  EXPECT_EQ(info.alg, uint32_t{KH_ALG_AES256_GCM});
  EXPECT_EQ(info.segment_size, 64u);
  EXPECT_EQ(info.header_len, kHdr);
  EXPECT_EQ(info.tag_len, kTag);
  EXPECT_EQ(info.encrypting, 1u);
  Bytes pt(64, 1), out(200, 0xEE);
  size_t n = 0;
  // Shape: a non-last call needs whole segments.
  EXPECT_EQ(kh_stream_seal(s, 0, 0, pt.data(), 10, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_seal(s, 0, 0, nullptr, 0, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_seal(s, 0, 2, pt.data(), 64, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  // Too small: the size needed, nothing written, index not consumed.
  EXPECT_EQ(kh_stream_seal(s, 0, 0, pt.data(), 64, out.data(), 79, &n), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 80u);
  EXPECT_EQ(out, Bytes(200, 0xEE));
  EXPECT_EQ(kh_stream_seal(s, 0, 0, pt.data(), 64, nullptr, 0, &n), KH_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 80u);
  // Out of order, repeated, overlapping, after the end: refused.
  EXPECT_EQ(kh_stream_seal(s, 1, 0, pt.data(), 64, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_seal(s, 0, 0, out.data(), 64, out.data() + 10, 100, &n), KH_E_INVALID_ARGUMENT);
  ASSERT_EQ(kh_stream_seal(s, 0, 0, pt.data(), 64, out.data(), out.size(), &n), KH_OK);
  EXPECT_EQ(n, 80u);
  EXPECT_EQ(kh_stream_seal(s, 0, 0, pt.data(), 64, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(kh_stream_seal(s, 1, 1, nullptr, 0, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT)
      << "an empty last segment is only for an empty stream";
  ASSERT_EQ(kh_stream_seal(s, 1, 1, pt.data(), 5, out.data(), out.size(), &n), KH_OK);
  EXPECT_EQ(n, 21u);
  EXPECT_EQ(kh_stream_seal(s, 2, 1, pt.data(), 5, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  // Wrong direction; index limit.
  EXPECT_EQ(kh_stream_open(s, 0, 1, out.data(), 21, pt.data(), pt.size(), &n), KH_E_INVALID_ARGUMENT);
  kh_handle d = 0;
  ASSERT_EQ(kh_stream_decrypt_begin(ks, hdr, kHdr, nullptr, 0, &d), KH_OK);
  EXPECT_EQ(kh_stream_seal(d, 0, 1, pt.data(), 5, out.data(), out.size(), &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_open(d, KH_STREAM_MAX_SEGMENTS, 1, out.data(), 21, pt.data(), pt.size(), &n),
            KH_E_TOO_LARGE);
  EXPECT_EQ(kh_stream_open(d, 0, 0, out.data(), 21, pt.data(), pt.size(), &n), KH_E_INVALID_ARGUMENT);
  EXPECT_EQ(kh_stream_open(d, 0, 1, nullptr, 21, pt.data(), pt.size(), &n), KH_E_NULL_POINTER);
  EXPECT_EQ(kh_stream_open(d, 0, 1, out.data(), 21, pt.data(), pt.size(), nullptr), KH_E_NULL_POINTER);
  // A stream handle is not a keyset, nor the reverse.
  EXPECT_EQ(kh_aead_encrypt(d, pt.data(), 1, nullptr, 0, out.data(), out.size(), &n), KH_E_WRONG_HANDLE_TYPE);
  EXPECT_EQ(kh_stream_open(ks, 0, 1, out.data(), 21, pt.data(), pt.size(), &n), KH_E_WRONG_HANDLE_TYPE);
  // Closing: the keyset may go first; the stream works until closed.
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
  EXPECT_EQ(kh_stream_info_get(d, &info), KH_OK);
  EXPECT_EQ(kh_handle_close(s), KH_OK);
  EXPECT_EQ(kh_handle_close(s), KH_E_STALE_HANDLE);
  EXPECT_EQ(kh_stream_seal(s, 2, 1, pt.data(), 5, out.data(), out.size(), &n), KH_E_STALE_HANDLE);
  EXPECT_EQ(kh_handle_close(d), KH_OK);
  EXPECT_EQ(kh_handle_close(mac), KH_OK);
}

// Threads racing to seal the same indices: the engine hands each index to
// exactly one call (no nonce is used twice), and concurrent random-access
// opens of one decrypting stream all agree.
TEST_F(EngineFixture, StreamConcurrentSealsClaimEachIndexOnceAndOpensAgree) {
  kh_handle ks = Generate(KH_ALG_CHACHA20_POLY1305);
  uint8_t hdr[kHdr];
  size_t hl = 0;
  kh_handle enc = 0;
  ASSERT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, 64, hdr, sizeof(hdr), &hl, &enc), KH_OK);
  constexpr int kThreads = 4, kSegments = 400;
  std::vector<std::atomic<int>> wins(kSegments);
  std::vector<Bytes> sealed(kSegments);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Bytes pt(64, static_cast<uint8_t>(t));
      for (int i = 0; i < kSegments; ++i) {
        Bytes out(64 + kTag);
        size_t n = 0;
        const kh_status st = kh_stream_seal(enc, static_cast<uint64_t>(i), i + 1 == kSegments ? 1 : 0,
                                            pt.data(), pt.size(), out.data(), out.size(), &n);
        if (st == KH_OK) {
          if (wins[i].fetch_add(1) == 0) sealed[i] = out;
        } else {
          EXPECT_EQ(st, KH_E_INVALID_ARGUMENT);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kSegments; ++i) EXPECT_EQ(wins[i].load(), 1) << "index " << i;
  kh_handle dec = 0;
  ASSERT_EQ(kh_stream_decrypt_begin(ks, hdr, sizeof(hdr), nullptr, 0, &dec), KH_OK);
  std::atomic<int> opened{0};
  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kSegments; ++i) {
        Bytes out(64);
        size_t n = 0;
        if (kh_stream_open(dec, static_cast<uint64_t>(i), i + 1 == kSegments ? 1 : 0, sealed[i].data(),
                           sealed[i].size(), out.data(), out.size(), &n) == KH_OK &&
            n == 64) {
          opened.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(opened.load(), kThreads * kSegments);
  EXPECT_EQ(kh_handle_close(enc), KH_OK);
  EXPECT_EQ(kh_handle_close(dec), KH_OK);
  EXPECT_EQ(kh_handle_close(ks), KH_OK);
}

TEST(StreamEngine, ClosingTheEngineClosesItsStreams) {
  kh_handle e = 0, ks = 0, s = 0;
  ASSERT_EQ(kh_engine_open(&e), KH_OK);
  ASSERT_EQ(kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  uint8_t hdr[kHdr];
  size_t hl = 0;
  ASSERT_EQ(kh_stream_encrypt_begin(ks, nullptr, 0, 0, hdr, sizeof(hdr), &hl, &s), KH_OK);
  kh_engine_stats st{};
  ASSERT_EQ(kh_engine_stats_get(e, &st), KH_OK);
  EXPECT_EQ(st.live_handles, 2u);
  ASSERT_EQ(kh_engine_close(e), KH_OK);
  kh_stream_info info{};
  EXPECT_EQ(kh_stream_info_get(s, &info), KH_E_STALE_HANDLE);
}

}  // namespace
}  // namespace keyhold
