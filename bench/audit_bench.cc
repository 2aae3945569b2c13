// The audit trail's cost on the hot path (docs/performance.md, "Audit
// overhead"): 64-byte AES-256-GCM encrypts through the C ABI with the audit
// trail off and on, side by side in one run. "on" is the default
// configuration (file sink, aggregation flushed every interval_ms by the
// background flusher, which runs during the measurement).
//
//   build/bin/keyhold_bench --benchmark_filter=Audit --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <keyhold/keyhold.h>
#include <stdlib.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "audit/audit.h"

namespace {

namespace fs = std::filesystem;

// BenchHome: every engine of the benchmark binary keeps its audit log (and
// any master key) in a temporary KEYHOLD_HOME, removed at exit.
struct BenchHome {
  std::string dir;
  BenchHome() {
    std::string tmpl = (fs::temp_directory_path() / "keyhold-bench.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    ::setenv("KEYHOLD_HOME", dir.c_str(), 1);
  }
  ~BenchHome() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};
BenchHome& Home() {
  static BenchHome h;
  return h;
}
const bool kHomeSet = (Home(), true);

kh_handle Engine() {
  static kh_handle e = [] {
    kh_handle h = 0;
    if (kh_engine_open(&h) != KH_OK) std::abort();
    return h;
  }();
  return e;
}

void SetAudit(bool on) {
  keyhold::audit::Config c;
  c.enabled = on;
  c.file_path = Home().dir + "/audit.log";
  c.interval_ms = 1000;
  if (!keyhold::audit::Configure(c).ok()) std::abort();
}

void BM_Audit_AeadEncrypt(benchmark::State& st, bool audit) {
  (void)Engine();
  if (st.thread_index() == 0) SetAudit(audit);
  kh_handle ks = 0;
  if (kh_keyset_generate(Engine(), KH_ALG_AES256_GCM, 0, &ks) != KH_OK) std::abort();
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size() + 64);
  size_t n = 0;
  for (auto _ : st) {
    if (kh_aead_encrypt(ks, pt.data(), pt.size(), nullptr, 0, out.data(), out.size(), &n) != KH_OK)
      std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  st.SetLabel(audit ? "audit on" : "audit off");
  (void)kh_handle_close(ks);
  if (st.thread_index() == 0) (void)keyhold::audit::Flush();
}

// The hot-path entry alone: one aggregated use (a thread-table hit).
void BM_Audit_RecordUse(benchmark::State& st) {
  if (st.thread_index() == 0) SetAudit(true);
  static constexpr std::array<uint8_t, 16> kId{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  for (auto _ : st) {
    keyhold::audit::RecordUse(kId, 7, keyhold::audit::Op::kAeadEncrypt, KH_OK, 64, 92);
  }
  if (st.thread_index() == 0) (void)keyhold::audit::Flush();
}
BENCHMARK(BM_Audit_RecordUse);
BENCHMARK(BM_Audit_RecordUse)->Threads(2)->UseRealTime();

// Off and on alternate, each repeated, so drift in the machine's load hits
// both alike.
BENCHMARK_CAPTURE(BM_Audit_AeadEncrypt, off, false)->Arg(64);
BENCHMARK_CAPTURE(BM_Audit_AeadEncrypt, on, true)->Arg(64);
BENCHMARK_CAPTURE(BM_Audit_AeadEncrypt, off, false)->Arg(64)->Threads(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_Audit_AeadEncrypt, on, true)->Arg(64)->Threads(2)->UseRealTime();

}  // namespace
