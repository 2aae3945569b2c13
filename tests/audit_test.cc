// The audit trail (src/audit, docs/spec/audit.md): chain, checkpoints,
// head file, rotation, aggregation, failure policy, file modes, several
// writers on one log, and the records the ABI makes. Tampering is
// verified by the Go verifier's tests and the CLI shell test.
#include "audit/audit.h"

#include <gtest/gtest.h>
#include <keyhold/keyhold.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "audit/log_file.h"
#include "test_util.h"

namespace keyhold::audit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// IsolatedHome points KEYHOLD_HOME at a fresh directory for the whole test
// binary, so that no test writes an audit log (or a master key) into the
// developer's home; removed at the end.
class IsolatedHome : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "keyhold-tests-home.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::setenv("KEYHOLD_HOME", (dir_ + "/home").c_str(), 1), 0);
    for (const char* v : {"KEYHOLD_AUDIT", "KEYHOLD_AUDIT_FILE", "KEYHOLD_AUDIT_KEY", "KEYHOLD_AUDIT_SYSLOG",
                          "KEYHOLD_AUDIT_FAILURE", "KEYHOLD_AUDIT_INTERVAL_MS",
                          "KEYHOLD_AUDIT_CHECKPOINT_EVERY", "KEYHOLD_AUDIT_MAX_BYTES"}) {
      ::unsetenv(v);
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

 private:
  std::string dir_;
};
const auto* const kIsolatedHome = ::testing::AddGlobalTestEnvironment(new IsolatedHome);

std::string Sha256Hex(const std::string& s) {
  uint8_t h[32];
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(s.data(), s.size(), h, &n, EVP_sha256(), nullptr), 1);
  return Hex(std::span<const uint8_t>(h, n));
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::string text = keyhold::testing::ReadFile(path);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "record without newline in " << path;
    if (nl == std::string::npos) break;
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// CheckChain verifies lines as spec section 3 says (the C++ side of the
// Go verifier's checks): consecutive sequence numbers, each prev the hash
// of the line before, every checkpoint's MAC. Returns the last line's hash.
std::string CheckChain(const std::vector<std::string>& lines, const std::string& key, uint64_t first_seq,
                       std::string prev) {
  uint64_t seq = first_seq;
  for (const auto& line : lines) {
    const json j = json::parse(line);
    EXPECT_EQ(j.at("v"), 1);
    EXPECT_EQ(j.at("seq").get<uint64_t>(), seq) << line;
    EXPECT_EQ(j.at("prev").get<std::string>(), prev) << line;
    EXPECT_EQ(j.at("pid").get<int64_t>(), ::getpid());
    if (j.at("type") == "checkpoint") {
      const size_t i = line.rfind(",\"mac\":\"");
      EXPECT_NE(i, std::string::npos);
      uint8_t mac[32];
      unsigned int n = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const uint8_t*>(line.data()), i, mac, &n);
      EXPECT_EQ(j.at("mac").get<std::string>(), Hex(std::span<const uint8_t>(mac, n))) << line;
    }
    prev = Sha256Hex(line);
    ++seq;
  }
  return prev;
}

const std::string kZero(64, '0');
constexpr std::array<uint8_t, 16> kKs1{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr std::array<uint8_t, 16> kKs2{0xaa, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetForTesting();
    std::string tmpl = (fs::temp_directory_path() / "keyhold-audit-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    cfg_.file_path = dir_ + "/logs/audit.log";
    cfg_.interval_ms = 3600 * 1000;  // flushes only when a test asks
  }
  void TearDown() override {
    ResetForTesting();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Log() const { return cfg_.file_path; }
  std::string Key() const { return keyhold::testing::ReadFile(dir_ + "/logs/audit.key"); }

  std::string dir_;
  Config cfg_;
};

TEST_F(AuditTest, ChainCheckpointsAndHead) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  ASSERT_EQ(RecordSelfTest(true, ""), OkStatus());
  ASSERT_EQ(RecordSelfTest(true, ""), OkStatus());  // once per process
  ASSERT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 11, KH_OK), OkStatus());
  ASSERT_EQ(RecordLifecycle(Lifecycle::kRotate, kKs1, 12, KH_OK), OkStatus());
  ASSERT_EQ(RecordPolicy(Op::kKeyExport, "export_forbidden", KH_E_POLICY_DENIED, kKs1), OkStatus());
  ASSERT_EQ(RecordPolicy(Op::kAeadEncrypt, "Bad Reason!", KH_E_POLICY_DENIED), OkStatus());
  ASSERT_EQ(Flush(), OkStatus());

  const auto lines = Lines(Log());
  ASSERT_EQ(lines.size(), 6u);  // 5 records and the flush's checkpoint
  const std::string last = CheckChain(lines, Key(), 1, kZero);
  EXPECT_EQ(json::parse(lines[0])["type"], "selftest");
  EXPECT_EQ(json::parse(lines[0])["result"], "passed");
  const json rot = json::parse(lines[2]);
  EXPECT_EQ(rot["type"], "lifecycle");
  EXPECT_EQ(rot["event"], "rotate");
  EXPECT_EQ(rot["keyset"], "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(rot["key"], 12);
  EXPECT_EQ(rot["outcome"], "KH_OK");
  EXPECT_FALSE(rot.contains("caller"));
  EXPECT_EQ(json::parse(lines[4])["reason"], "invalid_reason");
  EXPECT_EQ(json::parse(lines[5])["type"], "checkpoint");
  // The head file is the newest checkpoint.
  EXPECT_EQ(keyhold::testing::ReadFile(Log() + ".head"), lines[5] + "\n");
  // A second flush with nothing new adds nothing: the log already ends
  // with a checkpoint.
  ASSERT_EQ(Flush(), OkStatus());
  EXPECT_EQ(Lines(Log()).size(), 6u);
  // A new configuration (a new process, as far as the file knows) goes on
  // from the file's last record.
  ResetForTesting();
  ASSERT_EQ(Configure(cfg_), OkStatus());
  ASSERT_EQ(RecordLifecycle(Lifecycle::kDestroy, kKs1, 11, KH_OK), OkStatus());
  const auto more = Lines(Log());
  ASSERT_EQ(more.size(), 7u);
  CheckChain({more[6]}, Key(), 7, last);
  EXPECT_EQ(GetStats().last_seq, 7u);
}

// The daemon's caller identity reaches the records made on its thread,
// and nesting restores the outer one.
TEST_F(AuditTest, ScopedCallerNests) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  {
    const ScopedCaller outer(Caller{4001, 1001, 2001});
    {
      const ScopedCaller inner(Caller{4002, 1002, 2002});
      ASSERT_EQ(RecordLifecycle(Lifecycle::kRotate, kKs1, 1, KH_OK), OkStatus());
    }
    ASSERT_EQ(RecordPolicy(Op::kKeyExport, "export_forbidden", KH_E_POLICY_DENIED), OkStatus());
  }
  ASSERT_EQ(RecordLifecycle(Lifecycle::kRotate, kKs1, 2, KH_OK), OkStatus());
  const auto lines = Lines(Log());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(json::parse(lines[0])["caller"], json::parse(R"({"pid":4002,"uid":1002,"gid":2002})"));
  EXPECT_EQ(json::parse(lines[1])["caller"], json::parse(R"({"pid":4001,"uid":1001,"gid":2001})"));
  EXPECT_FALSE(json::parse(lines[2]).contains("caller"));
}

TEST_F(AuditTest, FilesArePrivate) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  ASSERT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), OkStatus());
  ASSERT_EQ(Flush(), OkStatus());
  for (const std::string& p : {Log(), Log() + ".lock", Log() + ".head", dir_ + "/logs/audit.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/logs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // A log others can read is refused, not appended to.
  ResetForTesting();
  ASSERT_EQ(::chmod(Log().c_str(), 0644), 0);
  ASSERT_EQ(Configure(cfg_), OkStatus());
  EXPECT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), Status(KH_E_IO));
}

TEST_F(AuditTest, UseAggregationAcrossThreads) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  constexpr int kThreads = 4, kOps = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([t] {
      const ScopedCaller caller(Caller{100 + t % 2, 1000, 1000});
      for (int i = 0; i < kOps; ++i) {
        RecordUse(kKs1, 7, Op::kAeadEncrypt, KH_OK, 64, 92);
        if (i % 4 == 0) RecordUse(kKs2, 9, Op::kAeadDecrypt, KH_E_AUTH_FAILED, 92, 0);
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(Flush(), OkStatus());
  std::map<std::string, uint64_t> counts, bytes_in;
  const auto lines = Lines(Log());
  CheckChain(lines, Key(), 1, kZero);
  for (const auto& line : lines) {
    const json j = json::parse(line);
    if (j["type"] != "use") continue;
    const std::string k = j["keyset"].get<std::string>() + "/" + std::to_string(j["key"].get<int>()) + "/" +
                          j["op"].get<std::string>() + "/" + j["outcome"].get<std::string>() + "/" +
                          std::to_string(j["caller"]["pid"].get<int>());
    counts[k] += j["count"].get<uint64_t>();
    bytes_in[k] += j["bytes_in"].get<uint64_t>();
  }
  // Per caller pid (two threads each) and per (keyset, key, op, outcome).
  ASSERT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts["0102030405060708090a0b0c0d0e0f10/7/aead_encrypt/KH_OK/100"], 2u * kOps);
  EXPECT_EQ(bytes_in["0102030405060708090a0b0c0d0e0f10/7/aead_encrypt/KH_OK/101"], 2u * kOps * 64);
  EXPECT_EQ(counts["aa02030405060708090a0b0c0d0e0f10/9/aead_decrypt/KH_E_AUTH_FAILED/101"], 2u * kOps / 4);
  // Nothing new: the next flush writes no use record.
  ASSERT_EQ(Flush(), OkStatus());
  EXPECT_EQ(Lines(Log()).size(), lines.size());
}

// Flushes racing with the counting threads lose and double-count nothing
// (the single-writer slots; run under TSan by make sanitize).
TEST_F(AuditTest, FlushWhileThreadsCount) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  constexpr int kThreads = 3, kOps = 30000;
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load()) ASSERT_EQ(Flush(), OkStatus());
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([t] {
      // Thread 0 uses one key; the others 700, so their tables are
      // retired to the flusher while it runs.
      for (int i = 0; i < kOps; ++i) {
        RecordUse(t == 0 ? kKs1 : kKs2, t == 0 ? 3 : 1 + static_cast<uint32_t>(i % 700), Op::kMacVerify,
                  KH_OK, 10, 0);
      }
    });
  }
  for (auto& t : ts) t.join();
  done = true;
  flusher.join();
  ASSERT_EQ(Flush(), OkStatus());
  uint64_t total = 0, bytes = 0;
  const auto lines = Lines(Log());
  CheckChain(lines, Key(), 1, kZero);
  for (const auto& line : lines) {
    const json j = json::parse(line);
    if (j["type"] != "use") continue;
    total += j["count"].get<uint64_t>();
    bytes += j["bytes_in"].get<uint64_t>();
  }
  EXPECT_EQ(total, uint64_t{kThreads} * kOps);
  EXPECT_EQ(bytes, uint64_t{kThreads} * kOps * 10);
}

TEST_F(AuditTest, ManyKeysWithoutLoss) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  // More distinct (keyset, key) pairs than a thread's table holds: crowded
  // tables are retired to the flusher, nothing is lost or counted twice.
  for (uint32_t k = 1; k <= 600; ++k) {
    for (int i = 0; i < 3; ++i) RecordUse(kKs1, k, Op::kMacCompute, KH_OK, 10, 38);
  }
  ASSERT_EQ(Flush(), OkStatus());
  uint64_t total = 0, records = 0;
  for (const auto& line : Lines(Log())) {
    const json j = json::parse(line);
    if (j["type"] != "use") continue;
    total += j["count"].get<uint64_t>();
    ++records;
  }
  EXPECT_EQ(total, 1800u);
  EXPECT_EQ(records, 600u);
  EXPECT_EQ(GetStats().dropped_records, 0u);
}

TEST_F(AuditTest, RotationKeepsTheChain) {
  cfg_.max_file_bytes = 4096;
  ASSERT_EQ(Configure(cfg_), OkStatus());
  for (uint32_t i = 0; i < 60; ++i)
    ASSERT_EQ(RecordLifecycle(Lifecycle::kEnable, kKs1, i, KH_OK), OkStatus());
  ASSERT_EQ(Flush(), OkStatus());
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir_ + "/logs")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("audit.log.", 0) == 0 && name.size() == std::string("audit.log.").size() + 20) {
      files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 2u);
  files.push_back(Log());
  std::string prev = kZero;
  uint64_t seq = 1;
  for (size_t f = 0; f < files.size(); ++f) {
    const auto lines = Lines(files[f]);
    ASSERT_FALSE(lines.empty());
    EXPECT_LE(keyhold::testing::ReadFile(files[f]).size(), 4096u);
    if (f > 0) {
      // The new file's first record names the old file and its last hash.
      const json first = json::parse(lines[0]);
      EXPECT_EQ(first["type"], "rotated");
      EXPECT_EQ(first["from"], fs::path(files[f - 1]).filename().string());
    }
    if (f + 1 < files.size()) {
      // Each rotated file ends with a checkpoint, named by its number.
      const json last = json::parse(lines.back());
      EXPECT_EQ(last["type"], "checkpoint");
      EXPECT_EQ(files[f].substr(files[f].size() - 20),
                std::string(20 - std::to_string(last["seq"].get<uint64_t>()).size(), '0') +
                    std::to_string(last["seq"].get<uint64_t>()));
    }
    prev = CheckChain(lines, Key(), seq, prev);
    seq += lines.size();
  }
}

TEST_F(AuditTest, TwoWritersOneChain) {
  // Two LogFile objects on one file stand for two processes: each append
  // takes the lock file and picks the chain up from the file.
  const std::string key = dir_ + "/logs/audit.key";
  LogFile a(Log(), key, false, 0), b(Log(), key, false, 0);
  std::thread ta([&] {
    for (int i = 0; i < 200; ++i)
      ASSERT_EQ(a.Append({"\"type\":\"dropped\",\"records\":1"}, i % 50 == 49, 1000), OkStatus());
  });
  std::thread tb([&] {
    for (int i = 0; i < 200; ++i)
      ASSERT_EQ(b.Append({"\"type\":\"dropped\",\"records\":2"}, i % 50 == 49, 1000), OkStatus());
  });
  ta.join();
  tb.join();
  const auto lines = Lines(Log());
  EXPECT_GE(lines.size(), 400u);
  CheckChain(lines, Key(), 1, kZero);
}

TEST_F(AuditTest, FailClosedForLifecycleOpenForUse) {
  // The log's directory is a regular file: every write fails.
  ASSERT_TRUE(std::ofstream(dir_ + "/blocked").good());
  cfg_.file_path = dir_ + "/blocked/audit.log";
  cfg_.key_path = dir_ + "/audit.key";
  ASSERT_EQ(Configure(cfg_), OkStatus());
  EXPECT_EQ(LifecycleAllowed(), Status(KH_E_IO));
  EXPECT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), Status(KH_E_IO));
  EXPECT_EQ(RecordPolicy(Op::kKeyExport, "export_forbidden", KH_E_POLICY_DENIED), Status(KH_E_IO));
  RecordUse(kKs1, 1, Op::kAeadEncrypt, KH_OK, 1, 29);
  EXPECT_EQ(Flush(), Status(KH_E_IO));
  Stats st = GetStats();
  EXPECT_EQ(st.dropped_records, 1u);  // the use record; lifecycle ones failed the call instead
  EXPECT_GE(st.write_failures, 3u);

  // Fail open: the same calls succeed, losses are counted ...
  ResetForTesting();
  cfg_.lifecycle_failure = FailurePolicy::kFailOpen;
  ASSERT_EQ(Configure(cfg_), OkStatus());
  EXPECT_EQ(LifecycleAllowed(), OkStatus());
  EXPECT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), OkStatus());
  EXPECT_EQ(GetStats().dropped_records, 1u);
  // ... and reported in the log once it can be written again.
  ASSERT_EQ(::unlink((dir_ + "/blocked").c_str()), 0);
  ASSERT_EQ(Flush(), OkStatus());
  const auto lines = Lines(dir_ + "/blocked/audit.log");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["type"], "dropped");
  EXPECT_EQ(json::parse(lines[0])["records"], 1);
}

TEST_F(AuditTest, CorruptTailStopsTheSink) {
  ASSERT_EQ(Configure(cfg_), OkStatus());
  ASSERT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), OkStatus());
  ResetForTesting();
  // A torn last record: appending after it would bury the damage.
  { std::ofstream(Log(), std::ios::app) << "{\"v\":1,\"seq\":2,\"ti"; }
  ASSERT_EQ(Configure(cfg_), OkStatus());
  EXPECT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), Status(KH_E_IO));
}

// Syslog gets the same lines as the file. The test listens on /dev/log
// itself, so it runs only where no syslog daemon owns that socket.
TEST_F(AuditTest, SyslogGetsEveryRecord) {
  if (::access("/dev/log", F_OK) == 0) GTEST_SKIP() << "/dev/log belongs to a syslog daemon here";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, "/dev/log", sizeof addr.sun_path - 1);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    GTEST_SKIP() << "cannot listen on /dev/log";
  }
  const timeval tv{2, 0};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  cfg_.syslog = true;
  ASSERT_EQ(Configure(cfg_), OkStatus());
  ASSERT_EQ(RecordLifecycle(Lifecycle::kDisable, kKs1, 5, KH_OK), OkStatus());
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ResetForTesting();  // closelog before the socket goes
  ::close(fd);
  ::unlink("/dev/log");
  ASSERT_GT(n, 0);
  const std::string msg(buf, static_cast<size_t>(n));
  // <facility LOG_AUTHPRIV (10) * 8 + LOG_INFO (6)>, ident, pid, the record.
  EXPECT_EQ(msg.rfind("<86>", 0), 0u) << msg;
  EXPECT_NE(msg.find("keyhold-audit[" + std::to_string(::getpid()) + "]: "), std::string::npos) << msg;
  const auto lines = Lines(Log());  // the record, then the reset's checkpoint
  ASSERT_EQ(lines.size(), 2u);
  ASSERT_GE(msg.size(), lines[0].size());
  EXPECT_EQ(msg.substr(msg.size() - lines[0].size()), lines[0]);
}

TEST_F(AuditTest, DisabledWritesNothing) {
  cfg_.enabled = false;
  ASSERT_EQ(Configure(cfg_), OkStatus());
  EXPECT_EQ(RecordLifecycle(Lifecycle::kCreate, kKs1, 1, KH_OK), OkStatus());
  RecordUse(kKs1, 1, Op::kAeadEncrypt, KH_OK, 1, 29);
  EXPECT_EQ(Flush(), OkStatus());
  EXPECT_FALSE(fs::exists(Log()));
}

// AbiLog: an engine whose audit log is a fresh file (a new path makes the
// engine apply the audit configuration again).
class AuditAbiTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    ASSERT_EQ(::setenv("KEYHOLD_AUDIT_FILE", Log().c_str(), 1), 0);
  }
  void TearDown() override {
    ::unsetenv("KEYHOLD_AUDIT_FILE");
    ::unsetenv("KEYHOLD_AUDIT_FAILURE");
    AuditTest::TearDown();
  }
  std::vector<json> Records() {
    std::vector<json> out;
    for (const auto& line : Lines(Log())) out.push_back(json::parse(line));
    return out;
  }
};

TEST_F(AuditAbiTest, LifecycleUseAndNoSecrets) {
  kh_handle engine = 0;
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  std::vector<uint8_t> raw_key(32);
  for (size_t i = 0; i < raw_key.size(); ++i) raw_key[i] = static_cast<uint8_t>(0xc0 + i);
  kh_handle raw = 0, ks = 0;
  ASSERT_EQ(kh_keyset_import_raw(engine, KH_ALG_AES256_GCM, raw_key.data(), raw_key.size(), &raw), KH_OK);
  ASSERT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  kh_keyset_info info{};
  ASSERT_EQ(kh_keyset_info_get(ks, &info), KH_OK);
  const uint32_t first = info.primary_key_id;
  uint32_t second = 0;
  ASSERT_EQ(kh_keyset_rotate(ks, &second), KH_OK);

  const std::string pt = "PLAINTEXT-MARKER-7f3a9c", aad = "AAD-MARKER-11d2";
  const auto* ptb = reinterpret_cast<const uint8_t*>(pt.data());
  const auto* aadb = reinterpret_cast<const uint8_t*>(aad.data());
  std::vector<uint8_t> ct(pt.size() + 64), back(pt.size() + 64);
  size_t ct_len = 0, back_len = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(kh_aead_encrypt(ks, ptb, pt.size(), aadb, aad.size(), ct.data(), ct.size(), &ct_len), KH_OK);
  }
  ASSERT_EQ(kh_aead_decrypt(ks, ct.data(), ct_len, aadb, aad.size(), back.data(), back.size(), &back_len),
            KH_OK);
  std::vector<uint8_t> bad(ct.begin(), ct.begin() + static_cast<ptrdiff_t>(ct_len));
  bad.back() ^= 1;
  EXPECT_EQ(
      kh_aead_decrypt(ks, bad.data(), bad.size(), aadb, aad.size(), back.data(), back.size(), &back_len),
      KH_E_AUTH_FAILED);
  std::vector<std::vector<uint8_t>> outs(3, std::vector<uint8_t>(pt.size() + 64));
  std::vector<kh_batch_item> items(3);
  for (size_t i = 0; i < items.size(); ++i) {
    items[i] = kh_batch_item{};
    items[i].keyset = ks;
    items[i].op = KH_OP_AEAD_ENCRYPT;
    items[i].in = ptb;
    items[i].in_len = pt.size();
    items[i].out = outs[i].data();
    items[i].out_cap = outs[i].size();
  }
  size_t failed = 0;
  ASSERT_EQ(kh_batch(items.data(), items.size(), &failed), KH_OK);
  ASSERT_EQ(failed, 0u);
  ASSERT_EQ(kh_aead_encrypt(raw, ptb, pt.size(), nullptr, 0, ct.data(), ct.size(), &ct_len), KH_OK);
  ASSERT_EQ(kh_keyset_disable(ks, first), KH_OK);
  ASSERT_EQ(kh_keyset_enable(ks, first), KH_OK);
  ASSERT_EQ(kh_keyset_disable(ks, first), KH_OK);
  ASSERT_EQ(kh_keyset_destroy_key(ks, first), KH_OK);
  EXPECT_EQ(kh_keyset_destroy_key(ks, 0xdead), KH_E_UNKNOWN_KEY);
  ASSERT_EQ(kh_handle_close(raw), KH_OK);
  ASSERT_EQ(kh_handle_close(ks), KH_OK);
  ASSERT_EQ(kh_engine_close(engine), KH_OK);

  const auto lines = Lines(Log());
  CheckChain(lines, Key(), 1, kZero);
  const std::string ks_hex = [&] {
    for (const auto& r : Records()) {
      if (r["type"] == "lifecycle" && r["event"] == "create") return r["keyset"].get<std::string>();
    }
    return std::string();
  }();
  ASSERT_EQ(ks_hex.size(), 32u);
  std::vector<std::string> events;
  std::map<std::string, json> uses;
  bool selftest = false;
  for (const auto& r : Records()) {
    if (r["type"] == "selftest") selftest = r["result"] == "passed";
    if (r["type"] == "lifecycle") {
      events.push_back(r["event"].get<std::string>() + ":" + std::to_string(r["key"].get<uint32_t>()) + ":" +
                       r["outcome"].get<std::string>());
    }
    if (r["type"] == "use" && r["keyset"] == ks_hex) {
      uses[r["op"].get<std::string>() + ":" + std::to_string(r["key"].get<uint32_t>()) + ":" +
           r["outcome"].get<std::string>()] = r;
    }
  }
  EXPECT_TRUE(selftest);
  const std::string k1 = std::to_string(first), k2 = std::to_string(second);
  const std::vector<std::string> want_events = {
      "import:" + events.at(0).substr(7, events.at(0).find(':', 7) - 7) + ":KH_OK",
      "create:" + k1 + ":KH_OK",
      "rotate:" + k2 + ":KH_OK",
      "disable:" + k1 + ":KH_OK",
      "enable:" + k1 + ":KH_OK",
      "disable:" + k1 + ":KH_OK",
      "destroy:" + k1 + ":KH_OK",
      "destroy:" + std::to_string(0xdead) + ":KH_E_UNKNOWN_KEY",
  };
  EXPECT_EQ(events, want_events);
  // 5 single encrypts and 3 batch items under the new primary; the
  // decrypts under it too; the failed one with key 0.
  ASSERT_TRUE(uses.count("aead_encrypt:" + k2 + ":KH_OK")) << ::testing::PrintToString(lines);
  EXPECT_EQ(uses["aead_encrypt:" + k2 + ":KH_OK"]["count"], 8);
  EXPECT_EQ(uses["aead_encrypt:" + k2 + ":KH_OK"]["bytes_in"], 5 * (pt.size() + aad.size()) + 3 * pt.size());
  EXPECT_EQ(uses["aead_decrypt:" + k2 + ":KH_OK"]["count"], 1);
  EXPECT_EQ(uses["aead_decrypt:0:KH_E_AUTH_FAILED"]["count"], 1);
  EXPECT_EQ(json::parse(lines.back())["type"], "checkpoint");

  // No key, plaintext, associated data or ciphertext, in any encoding.
  const std::string text = keyhold::testing::ReadFile(Log());
  const std::string ct_hex = Hex(std::span<const uint8_t>(ct.data() + 12, 16));
  for (const std::string& secret : {Hex(raw_key), Hex(std::span<const uint8_t>(raw_key.data(), 8)), pt, aad,
                                    ct_hex, std::string(reinterpret_cast<const char*>(raw_key.data()), 8)}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
}

// Storage events: save, load, wrapped export (not the size query) and
// import, and a refused export as a policy record.
TEST_F(AuditAbiTest, StorageEventsAndExportRefusal) {
  ASSERT_EQ(::setenv("KH_AUDIT_TEST_KEK", std::string(64, 'a').c_str(), 1), 0);
  const std::string spec = "env:KH_AUDIT_TEST_KEK", file = dir_ + "/k.keyset";
  kh_handle engine = 0, kek = 0, ks = 0, loaded = 0, imported = 0;
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  ASSERT_EQ(kh_kek_open(engine, spec.data(), spec.size(), &kek), KH_OK);
  ASSERT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, KH_KEYSET_EXPORTABLE, &ks), KH_OK);
  ASSERT_EQ(kh_keyset_save_file(ks, kek, file.data(), file.size()), KH_OK);
  ASSERT_EQ(kh_keyset_load_file(engine, kek, file.data(), file.size(), &loaded), KH_OK);
  size_t need = 0;
  ASSERT_EQ(kh_keyset_export_wrapped(ks, kek, nullptr, 0, &need), KH_E_BUFFER_TOO_SMALL);
  std::vector<uint8_t> blob(need);
  size_t blob_len = 0;
  ASSERT_EQ(kh_keyset_export_wrapped(ks, kek, blob.data(), blob.size(), &blob_len), KH_OK);
  ASSERT_EQ(kh_keyset_import_wrapped(engine, kek, blob.data(), blob_len, &imported), KH_OK);
  for (kh_handle h : {imported, loaded, ks, kek}) ASSERT_EQ(kh_handle_close(h), KH_OK);
  ASSERT_EQ(kh_engine_close(engine), KH_OK);
  // The same export under a policy that forbids it.
  ASSERT_EQ(::setenv("KEYHOLD_POLICY_ALLOW_EXPORT", "false", 1), 0);
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  ASSERT_EQ(kh_kek_open(engine, spec.data(), spec.size(), &kek), KH_OK);
  ASSERT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, KH_KEYSET_EXPORTABLE, &ks), KH_OK);
  EXPECT_EQ(kh_keyset_export_wrapped(ks, kek, blob.data(), blob.size(), &blob_len), KH_E_POLICY_DENIED);
  for (kh_handle h : {ks, kek}) ASSERT_EQ(kh_handle_close(h), KH_OK);
  ASSERT_EQ(kh_engine_close(engine), KH_OK);
  ::unsetenv("KEYHOLD_POLICY_ALLOW_EXPORT");
  ::unsetenv("KH_AUDIT_TEST_KEK");

  const auto lines = Lines(Log());
  CheckChain(lines, Key(), 1, kZero);
  std::vector<std::string> seen;
  for (const auto& r : Records()) {
    if (r["type"] == "lifecycle")
      seen.push_back(r["event"].get<std::string>() + ":" + r["outcome"].get<std::string>());
    if (r["type"] == "policy")
      seen.push_back("policy:" + r["op"].get<std::string>() + ":" + r["reason"].get<std::string>());
  }
  const std::vector<std::string> want = {"create:KH_OK",
                                         "save:KH_OK",
                                         "load:KH_OK",
                                         "export:KH_OK",
                                         "import:KH_OK",
                                         "create:KH_OK",
                                         "policy:key_export:export_forbidden"};
  EXPECT_EQ(seen, want);
}

TEST_F(AuditAbiTest, LifecycleFailsClosedUseFailsOpen) {
  kh_handle engine = 0, ks = 0;
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  ASSERT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
  // The log becomes unwritable: a directory where the file was.
  ASSERT_EQ(::rename(Log().c_str(), (Log() + ".moved").c_str()), 0);
  ASSERT_EQ(::mkdir(Log().c_str(), 0700), 0);
  kh_keyset_info before{}, after{};
  ASSERT_EQ(kh_keyset_info_get(ks, &before), KH_OK);
  uint32_t id = 0;
  EXPECT_EQ(kh_keyset_rotate(ks, &id), KH_E_IO);
  EXPECT_EQ(kh_keyset_disable(ks, before.primary_key_id), KH_E_IO);
  ASSERT_EQ(kh_keyset_info_get(ks, &after), KH_OK);
  EXPECT_EQ(after.key_count, before.key_count);  // refused before anything changed
  kh_handle ks2 = 0;
  EXPECT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, 0, &ks2), KH_E_IO);
  EXPECT_EQ(ks2, 0u);
  kh_engine_stats st{};
  ASSERT_EQ(kh_engine_stats_get(engine, &st), KH_OK);
  EXPECT_EQ(st.live_handles, 1u);  // the refused keyset was closed again
  // Use goes on; its records are counted as lost.
  const uint8_t msg[64] = {};
  uint8_t out[128];
  size_t out_len = 0;
  const uint64_t dropped = GetStats().dropped_records;
  EXPECT_EQ(kh_aead_encrypt(ks, msg, sizeof msg, nullptr, 0, out, sizeof out, &out_len), KH_OK);
  ASSERT_EQ(kh_handle_close(ks), KH_OK);
  ASSERT_EQ(kh_engine_close(engine), KH_OK);
  EXPECT_GT(GetStats().dropped_records, dropped);
}

TEST_F(AuditAbiTest, EngineRefusesToOpenWithoutItsLog) {
  ASSERT_TRUE(std::ofstream(dir_ + "/blocked").good());
  ASSERT_EQ(::setenv("KEYHOLD_AUDIT_FILE", (dir_ + "/blocked/audit.log").c_str(), 1), 0);
  kh_handle engine = 0;
  EXPECT_EQ(kh_engine_open(&engine), KH_E_IO);
  ASSERT_EQ(::setenv("KEYHOLD_AUDIT_FAILURE", "open", 1), 0);
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  ASSERT_EQ(kh_engine_close(engine), KH_OK);
}

using testing::ScopedEnv;

TEST(AuditConfig, Environment) {
  Config c;
  ASSERT_EQ(ConfigFromAuditEnvironment(&c), OkStatus());
  EXPECT_TRUE(c.enabled);
  EXPECT_TRUE(c.file_path.empty());
  EXPECT_EQ(c.lifecycle_failure, FailurePolicy::kFailClosed);
  {
    ScopedEnv a("KEYHOLD_AUDIT_FAILURE", "open"), b("KEYHOLD_AUDIT_INTERVAL_MS", "250"),
        d("KEYHOLD_AUDIT_MAX_BYTES", "0"), e("KEYHOLD_AUDIT_SYSLOG", "1"),
        f("KEYHOLD_AUDIT_FILE", "/x/a.log");
    ASSERT_EQ(ConfigFromAuditEnvironment(&c), OkStatus());
    EXPECT_EQ(c.lifecycle_failure, FailurePolicy::kFailOpen);
    EXPECT_EQ(c.interval_ms, 250u);
    EXPECT_EQ(c.max_file_bytes, 0u);
    EXPECT_TRUE(c.syslog);
    EXPECT_EQ(c.file_path, "/x/a.log");
  }
  const std::pair<const char*, const char*> bad[] = {
      {"KEYHOLD_AUDIT", "maybe"},
      {"KEYHOLD_AUDIT_FAILURE", "closed "},
      {"KEYHOLD_AUDIT_INTERVAL_MS", "5"},
      {"KEYHOLD_AUDIT_INTERVAL_MS", "-1"},
      {"KEYHOLD_AUDIT_CHECKPOINT_EVERY", "0"},
      {"KEYHOLD_AUDIT_MAX_BYTES", "100"},
      {"KEYHOLD_AUDIT_MAX_BYTES", "99999999999999999999999"},
      {"KEYHOLD_AUDIT_SYSLOG", "2"},
  };
  for (const auto& [name, value] : bad) {
    ScopedEnv env(name, value);
    Config before;
    EXPECT_EQ(ConfigFromAuditEnvironment(&before), Status(KH_E_INVALID_ARGUMENT)) << name << "=" << value;
  }
  Config out_of_range;
  out_of_range.checkpoint_every = 0;
  EXPECT_EQ(Configure(out_of_range), Status(KH_E_INVALID_ARGUMENT));
}

}  // namespace
}  // namespace keyhold::audit
