// Fuzz target: the streaming AEAD decoder (docs/spec/stream.md) on arbitrary
// bytes, for every AEAD algorithm.
//
// Input: sel (1) || aad_len (1) || aad || stream
//   sel % 3         algorithm: AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305
// The keyset is a raw one holding the key of the raw golden stream vectors
// (testdata/golden/stream_v1.json), so mutations of a golden stream decrypt
// for real. (Key-id checks of managed keysets are the one-shot decoders'
// code path, fuzzed by aead_decrypt; tests/stream_test.cc covers them.)
//
// The stream is decoded three ways through the C ABI: segment by segment as
// a sequential reader does, all segments in one kh_stream_open call, and
// each segment alone at its index (random access). Contracts checked: only
// decoder statuses; the three agree on success and on the plaintext; a
// failed call writes nothing (its output is zeroed); *out_len is 0 on
// failure. Seeds: fuzz/corpus/stream_decrypt/ (the golden vectors).
#include <array>

#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

constexpr kh_alg kAlgs[] = {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305};
constexpr size_t kHdr = KH_STREAM_HEADER_LEN;
constexpr size_t kTag = KH_STREAM_TAG_LEN;

// RawKeysets: one raw keyset per algorithm with the golden stream key.
const std::array<kh_handle, 3>& RawKeysets() {
  static const std::array<kh_handle, 3> k = [] {
    std::array<kh_handle, 3> out{};
    std::ifstream f(KEYHOLD_TESTDATA_DIR "/golden/stream_v1.json");
    std::stringstream ss;
    ss << f.rdbuf();
    const auto doc = nlohmann::json::parse(ss.str());
    for (size_t i = 0; i < 3; ++i) {
      for (const auto& v : doc["vectors"]) {
        if (!v["raw"].get<bool>() || AlgByName(v["alg"]) != kAlgs[i]) continue;
        const Bytes key = Hex(v["key"]);
        FUZZ_CHECK(kh_keyset_import_raw(Engine(), kAlgs[i], key.data(), key.size(), &out[i]) == KH_OK);
        break;
      }
      FUZZ_CHECK(out[i] != 0);
    }
    return out;
  }();
  return k;
}

// Sequential decodes as a reader: every segment but the final one with
// last = 0, one call each. Returns the status and the plaintext.
kh_status Sequential(kh_handle s, uint32_t seg, const Bytes& body, Bytes* pt) {
  const size_t c = size_t{seg} + kTag;
  size_t off = 0;
  for (uint64_t i = 0;; ++i) {
    const bool last = body.size() - off <= c;
    const size_t n = last ? body.size() - off : c;
    HeapBuf in(n), out(seg);
    if (n > 0) std::memcpy(in.data(), body.data() + off, n);
    size_t out_len = 7;
    const kh_status st = kh_stream_open(s, i, last ? 1 : 0, in.data(), n, out.data(), seg, &out_len);
    FUZZ_CHECK(DecoderStatus(st));
    if (st != KH_OK) {
      FUZZ_CHECK(out_len == 0 && out.WipedOrUntouched());
      pt->clear();
      return st;
    }
    FUZZ_CHECK(out_len <= seg);
    pt->insert(pt->end(), out.data(), out.data() + out_len);
    if (last) return KH_OK;
    off += n;
  }
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t sel = r.U8();
  const kh_handle ks = RawKeysets()[sel % 3];
  const Bytes aad = r.Take(r.U8());
  const Bytes in = r.Rest();

  // The header through the ABI.
  HeapBuf hdr(std::min(in.size(), kHdr));
  if (hdr.cap() > 0) std::memcpy(hdr.data(), in.data(), hdr.cap());
  kh_handle s = 0;
  const kh_status st = kh_stream_decrypt_begin(ks, hdr.data(), hdr.cap(), aad.data(), aad.size(), &s);
  FUZZ_CHECK(DecoderStatus(st));
  if (st != KH_OK) {
    FUZZ_CHECK(s == 0);
    FUZZ_CHECK(in.size() < kHdr || st != KH_E_AUTH_FAILED);
    return 0;
  }
  kh_stream_info info{};
  FUZZ_CHECK(kh_stream_info_get(s, &info) == KH_OK);
  FUZZ_CHECK(info.encrypting == 0 && info.segment_size >= KH_STREAM_SEGMENT_MIN &&
             info.segment_size <= KH_STREAM_SEGMENT_MAX);
  const Bytes body(in.begin() + kHdr, in.end());

  Bytes seq;
  const kh_status s1 = Sequential(s, info.segment_size, body, &seq);

  // All at once.
  {
    HeapBuf bin(body.size()), out(body.size());
    if (!body.empty()) std::memcpy(bin.data(), body.data(), body.size());
    size_t out_len = 7;
    const kh_status s2 = kh_stream_open(s, 0, 1, bin.data(), body.size(), out.data(), out.cap(), &out_len);
    FUZZ_CHECK(DecoderStatus(s2));
    FUZZ_CHECK((s2 == KH_OK) == (s1 == KH_OK));
    if (s2 == KH_OK) {
      FUZZ_CHECK(out_len == seq.size());
      FUZZ_CHECK(out_len == 0 || std::memcmp(out.data(), seq.data(), out_len) == 0);
    } else {
      FUZZ_CHECK(out_len == 0 && out.WipedOrUntouched());
    }
  }

  // Random access: each segment alone must match the sequential result.
  if (s1 == KH_OK) {
    const size_t c = size_t{info.segment_size} + kTag;
    const size_t n = std::max<size_t>(1, (body.size() + c - 1) / c);
    for (size_t i = 0; i < n; ++i) {
      const size_t off = i * c, len = std::min(c, body.size() - off);
      HeapBuf bin(len), out(info.segment_size);
      if (len > 0) std::memcpy(bin.data(), body.data() + off, len);
      size_t out_len = 0;
      FUZZ_CHECK(kh_stream_open(s, i, i + 1 == n ? 1 : 0, bin.data(), len, out.data(), out.cap(), &out_len) ==
                 KH_OK);
      FUZZ_CHECK(out_len == 0 || std::memcmp(out.data(), seq.data() + i * info.segment_size, out_len) == 0);
    }
  }
  FUZZ_CHECK(kh_handle_close(s) == KH_OK);
  return 0;
}
