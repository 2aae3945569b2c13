// Streaming AEAD (docs/spec/stream.md): the raw segment throughput of the C
// ABI -- one kh_stream_seal / kh_stream_open per segment, called from C --
// at several segment sizes. It is the reference the Go io.Writer / io.Reader
// are measured against (go/stream_bench_test.go, docs/performance.md), and
// the measurement behind the default segment size (decision 0013).
#include <benchmark/benchmark.h>
#include <keyhold/keyhold.h>

#include <cstdlib>
#include <vector>

namespace {

kh_handle StreamEngine() {
  static kh_handle e = [] {
    kh_handle h = 0;
    if (kh_engine_open(&h) != KH_OK) std::abort();
    return h;
  }();
  return e;
}

void SegmentSizes(benchmark::internal::Benchmark* b) {
  for (int64_t s : {4096, 16384, 65536, 262144, 1048576}) b->Arg(s);
}

// BM_Stream_Seal: one segment (not the last) per call, in order.
void BM_Stream_Seal(benchmark::State& st, kh_alg alg) {
  const auto seg = static_cast<uint32_t>(st.range(0));
  kh_handle ks = 0, s = 0;
  if (kh_keyset_generate(StreamEngine(), alg, 0, &ks) != KH_OK) std::abort();
  uint8_t hdr[KH_STREAM_HEADER_LEN];
  size_t hl = 0;
  if (kh_stream_encrypt_begin(ks, nullptr, 0, seg, hdr, sizeof(hdr), &hl, &s) != KH_OK) std::abort();
  std::vector<uint8_t> pt(seg, 0x42), out(seg + KH_STREAM_TAG_LEN);
  uint64_t index = 0;
  for (auto _ : st) {
    size_t n = 0;
    if (kh_stream_seal(s, index++, 0, pt.data(), pt.size(), out.data(), out.size(), &n) != KH_OK)
      std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * seg);
  (void)kh_handle_close(s);
  (void)kh_handle_close(ks);
}

// BM_Stream_Open: one segment per call (random access makes any index
// valid, so the same sealed segment is opened again and again).
void BM_Stream_Open(benchmark::State& st, kh_alg alg) {
  const auto seg = static_cast<uint32_t>(st.range(0));
  kh_handle ks = 0, enc = 0, dec = 0;
  if (kh_keyset_generate(StreamEngine(), alg, 0, &ks) != KH_OK) std::abort();
  uint8_t hdr[KH_STREAM_HEADER_LEN];
  size_t hl = 0;
  if (kh_stream_encrypt_begin(ks, nullptr, 0, seg, hdr, sizeof(hdr), &hl, &enc) != KH_OK) std::abort();
  std::vector<uint8_t> pt(seg, 0x42), ct(seg + KH_STREAM_TAG_LEN);
  size_t n = 0;
  if (kh_stream_seal(enc, 0, 0, pt.data(), pt.size(), ct.data(), ct.size(), &n) != KH_OK) std::abort();
  if (kh_stream_decrypt_begin(ks, hdr, sizeof(hdr), nullptr, 0, &dec) != KH_OK) std::abort();
  for (auto _ : st) {
    if (kh_stream_open(dec, 0, 0, ct.data(), ct.size(), pt.data(), pt.size(), &n) != KH_OK) std::abort();
    benchmark::DoNotOptimize(pt.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * seg);
  (void)kh_handle_close(enc);
  (void)kh_handle_close(dec);
  (void)kh_handle_close(ks);
}

BENCHMARK_CAPTURE(BM_Stream_Seal, aes256gcm, KH_ALG_AES256_GCM)->Apply(SegmentSizes);
BENCHMARK_CAPTURE(BM_Stream_Seal, chacha20poly1305, KH_ALG_CHACHA20_POLY1305)->Apply(SegmentSizes);
BENCHMARK_CAPTURE(BM_Stream_Open, aes256gcm, KH_ALG_AES256_GCM)->Apply(SegmentSizes);
BENCHMARK_CAPTURE(BM_Stream_Open, chacha20poly1305, KH_ALG_CHACHA20_POLY1305)->Apply(SegmentSizes);

}  // namespace
