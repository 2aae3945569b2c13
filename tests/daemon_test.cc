// The keyholdd frame codec (src/wire/frame.cc) and the transport-free half
// of the daemon (src/daemon/service.cc): decoding of every malformed case,
// authorisation, object ownership and batches. The socket, signals and
// faults are tested end to end in go/daemon_test.go.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "daemon/config.h"
#include "daemon/service.h"
#include "keystore_util.h"
#include "wire/frame.h"

namespace keyhold {
namespace {

using wire::FrameHeader;
using wire::Op;
using wire::RequestItem;
using wire::ResponseItem;

std::vector<uint8_t> Encode(uint16_t op, const std::vector<RequestItem>& items, uint64_t id = 7) {
  FrameHeader h;
  h.op = op;
  h.request_id = id;
  h.count = static_cast<uint32_t>(items.size());
  std::vector<uint8_t> out;
  wire::EncodeRequest(h, items, &out);
  return out;
}

ByteView Body(const std::vector<uint8_t>& frame) { return ByteView(frame).subspan(wire::kLengthPrefixLen); }

RequestItem Item(Op op, uint64_t handle = 0, uint32_t out_cap = 0, ByteView in = {}, ByteView in2 = {}) {
  RequestItem it;
  it.op = static_cast<uint16_t>(op);
  it.handle = handle;
  it.out_cap = out_cap;
  it.in = in;
  it.in2 = in2;
  return it;
}

kh_status DecodeStatus(const std::vector<uint8_t>& frame) {
  FrameHeader h;
  std::vector<RequestItem> items;
  return wire::DecodeRequest(Body(frame), &h, &items).code();
}

TEST(FrameTest, RequestRoundTrip) {
  const uint8_t pt[] = {1, 2, 3};
  const uint8_t ad[] = {9};
  auto frame =
      Encode(static_cast<uint16_t>(Op::kAeadEncrypt), {Item(Op::kAeadEncrypt, 0xabcdef, 100, pt, ad)}, 99);
  EXPECT_EQ(wire::ReadLengthPrefix(frame.data()), frame.size() - 4);
  FrameHeader h;
  std::vector<RequestItem> items;
  ASSERT_TRUE(wire::DecodeRequest(Body(frame), &h, &items).ok());
  EXPECT_EQ(h.request_id, 99u);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].handle, 0xabcdefu);
  EXPECT_EQ(items[0].out_cap, 100u);
  EXPECT_EQ(std::vector<uint8_t>(items[0].in.begin(), items[0].in.end()), std::vector<uint8_t>(pt, pt + 3));
  EXPECT_EQ(items[0].in2.size(), 1u);
  EXPECT_TRUE(items[0].in3.empty());
}

TEST(FrameTest, ResponseRoundTrip) {
  const uint8_t out[] = {5, 6};
  FrameHeader h;
  h.kind = wire::kKindResponse;
  h.op = 80;
  h.count = 2;
  std::vector<uint8_t> frame;
  wire::EncodeResponse(h, {ResponseItem{KH_OK, 1, out}, ResponseItem{KH_E_AUTH_FAILED, 0, {}}}, &frame);
  FrameHeader rh;
  std::vector<ResponseItem> items;
  ASSERT_TRUE(wire::DecodeResponse(Body(frame), &rh, &items).ok());
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].out.size(), 2u);
  EXPECT_EQ(items[1].status, static_cast<uint32_t>(KH_E_AUTH_FAILED));
}

TEST(FrameTest, EveryMalformedCase) {
  const uint16_t enc = static_cast<uint16_t>(Op::kAeadEncrypt);
  auto good = Encode(enc, {Item(Op::kAeadEncrypt, 1, 10)});
  ASSERT_EQ(DecodeStatus(good), KH_OK);
  auto mutate = [&](size_t off, uint8_t v) {
    auto f = good;
    f[off] = v;
    return f;
  };
  EXPECT_EQ(DecodeStatus(mutate(4, 2)), KH_E_UNSUPPORTED);    // version
  EXPECT_EQ(DecodeStatus(mutate(5, 2)), KH_E_MALFORMED);      // kind: a response
  EXPECT_EQ(DecodeStatus(mutate(5, 9)), KH_E_MALFORMED);      // kind: unknown
  EXPECT_EQ(DecodeStatus(mutate(7, 200)), KH_E_UNSUPPORTED);  // unknown frame op
  EXPECT_EQ(DecodeStatus(mutate(8, 1)), KH_E_UNSUPPORTED);    // options not 0
  EXPECT_EQ(DecodeStatus(mutate(20, 1)), KH_E_UNSUPPORTED);   // status in a request
  EXPECT_EQ(DecodeStatus(mutate(27, 2)), KH_E_MALFORMED);     // count 2 for a single op
  EXPECT_EQ(DecodeStatus(mutate(27, 0)), KH_E_MALFORMED);     // count 0
  EXPECT_EQ(DecodeStatus(mutate(30, 1)), KH_E_UNSUPPORTED);   // item flags
  EXPECT_EQ(DecodeStatus(mutate(29, 2)), KH_E_UNSUPPORTED);   // item op differs from the frame's
  {
    auto f = good;  // count above kMaxItems
    wire::PutU32(f.data() + 24, wire::kMaxItems + 1);
    EXPECT_EQ(DecodeStatus(f), KH_E_MALFORMED);
  }
  {
    auto f = Encode(80, {Item(Op::kAeadEncrypt, 1, 10)});  // a count the body cannot hold
    wire::PutU32(f.data() + 24, 1000);
    EXPECT_EQ(DecodeStatus(f), KH_E_MALFORMED);
  }
  {
    auto f = good;  // in_len beyond the body
    wire::PutU32(f.data() + 28 + 24, 1000);
    EXPECT_EQ(DecodeStatus(f), KH_E_MALFORMED);
  }
  {
    auto f = good;  // out_cap beyond the frame limit
    wire::PutU32(f.data() + 28 + 20, wire::kMaxFrameLen + 1);
    EXPECT_EQ(DecodeStatus(f), KH_E_TOO_LARGE);
  }
  {
    auto f = good;  // a trailing byte
    f.push_back(0);
    EXPECT_EQ(DecodeStatus(f), KH_E_MALFORMED);
  }
  for (size_t cut = 4; cut < good.size(); ++cut) {  // every truncation
    std::vector<uint8_t> f(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_NE(DecodeStatus(f), KH_OK) << cut;
  }
  // A batch may carry an op that cannot be batched: that item's error.
  EXPECT_EQ(DecodeStatus(Encode(80, {Item(Op::kHello)})), KH_OK);
}

// Service tests run the daemon's request path without a socket.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kh_engine_open(&engine_), KH_OK);
    svc_ = std::make_unique<daemon::Service>(engine_, 3);
  }
  void TearDown() override {
    svc_.reset();
    (void)kh_engine_close(engine_);
  }
  // Configure: an ACL with the given rules (none: only run_uid 1000).
  void Configure(std::vector<daemon::AclRule> acl) {
    daemon::Config cfg;
    cfg.run_uid = 1000;
    cfg.acl = std::move(acl);
    std::shared_ptr<daemon::State> st;
    ASSERT_EQ(daemon::State::Load(cfg, engine_, 0, &st), "");
    svc_->SetState(st);
  }
  // Call runs one request frame and decodes the response.
  std::vector<ResponseItem> Call(uid_t uid, uint16_t op, const std::vector<RequestItem>& items,
                                 kh_status* frame_status = nullptr) {
    auto req = Encode(op, items);
    std::vector<RequestItem> scratch;
    resp_.clear();
    daemon::Caller c{uid, uid, 1};
    EXPECT_TRUE(svc_->HandleBytes(c, Body(req), &scratch, &resp_));
    FrameHeader h;
    std::vector<ResponseItem> out;
    EXPECT_TRUE(wire::DecodeResponse(Body(resp_), &h, &out).ok());
    EXPECT_EQ(h.request_id, 7u);
    if (frame_status != nullptr) *frame_status = static_cast<kh_status>(h.status);
    return out;
  }
  uint64_t OpenEngine(uid_t uid) {
    auto r = Call(uid, 48, {Item(Op::kEngineOpen)});
    EXPECT_EQ(r.at(0).status, static_cast<uint32_t>(KH_OK));
    return r.at(0).value;
  }
  uint64_t Generate(uid_t uid, uint64_t eng, kh_alg alg) {
    RequestItem it = Item(Op::kKeysetGenerate, eng);
    it.arg = alg;
    auto r = Call(uid, 64, {it});
    EXPECT_EQ(r.at(0).status, static_cast<uint32_t>(KH_OK));
    return r.at(0).value;
  }

  kh_handle engine_ = 0;
  std::unique_ptr<daemon::Service> svc_;
  std::vector<uint8_t> resp_;
};

TEST_F(ServiceTest, DefaultAclIsTheDaemonsOwnUid) {
  Configure({});
  OpenEngine(1000);
  EXPECT_EQ(Call(2000, 48, {Item(Op::kEngineOpen)}).at(0).status, static_cast<uint32_t>(KH_E_POLICY_DENIED));
  // hello and health answer anyone who can connect.
  RequestItem hello = Item(Op::kHello, 0, 64);
  hello.arg = hello.arg2 = 1;
  EXPECT_EQ(Call(2000, 32, {hello}).at(0).status, static_cast<uint32_t>(KH_OK));
  EXPECT_EQ(svc_->metrics().Render().find("keyholdd_denied_total 1") != std::string::npos, true);
}

TEST_F(ServiceTest, RoundTripAndBufferTooSmall) {
  Configure({});
  uint64_t ks = Generate(1000, OpenEngine(1000), KH_ALG_AES256_GCM);
  const uint8_t pt[] = {'h', 'i'};
  auto r = Call(1000, 1, {Item(Op::kAeadEncrypt, ks, 10, pt)});
  EXPECT_EQ(r[0].status, static_cast<uint32_t>(KH_E_BUFFER_TOO_SMALL));
  EXPECT_EQ(r[0].value, 2u + 6 + 12 + 16);
  EXPECT_TRUE(r[0].out.empty());
  r = Call(1000, 1, {Item(Op::kAeadEncrypt, ks, 64, pt)});
  ASSERT_EQ(r[0].status, static_cast<uint32_t>(KH_OK));
  std::vector<uint8_t> ct(r[0].out.begin(), r[0].out.end());
  r = Call(1000, 2, {Item(Op::kAeadDecrypt, ks, 64, ct)});
  ASSERT_EQ(r[0].status, static_cast<uint32_t>(KH_OK));
  EXPECT_EQ(std::vector<uint8_t>(r[0].out.begin(), r[0].out.end()), std::vector<uint8_t>(pt, pt + 2));
  ct.back() ^= 1;
  EXPECT_EQ(Call(1000, 2, {Item(Op::kAeadDecrypt, ks, 64, ct)})[0].status,
            static_cast<uint32_t>(KH_E_AUTH_FAILED));
}

TEST_F(ServiceTest, ObjectsBelongToTheirUid) {
  daemon::AclRule a, b;
  a.uid = 1000;
  b.uid = 2000;
  a.keysets = b.keysets = {"*"};
  a.classes = b.classes = daemon::kClassAll;
  Configure({a, b});
  uint64_t ks = Generate(1000, OpenEngine(1000), KH_ALG_HMAC_SHA256);
  const uint8_t msg[] = {1};
  EXPECT_EQ(Call(1000, 5, {Item(Op::kMacCompute, ks, 64, msg)})[0].status, static_cast<uint32_t>(KH_OK));
  // Another uid's token is indistinguishable from a forged one.
  EXPECT_EQ(Call(2000, 5, {Item(Op::kMacCompute, ks, 64, msg)})[0].status,
            static_cast<uint32_t>(KH_E_STALE_HANDLE));
  EXPECT_EQ(Call(2000, 75, {Item(Op::kHandleClose, ks)})[0].status, static_cast<uint32_t>(KH_E_STALE_HANDLE));
  // The per-uid object cap (3 here: one engine, two keysets).
  uint64_t eng2 = OpenEngine(1000);
  RequestItem gen = Item(Op::kKeysetGenerate, eng2);
  gen.arg = KH_ALG_AES256_GCM;
  EXPECT_EQ(Call(1000, 64, {gen})[0].status, static_cast<uint32_t>(KH_E_LIMIT_EXCEEDED));
  // Closing the engine frees its keysets' slots.
  EXPECT_EQ(Call(1000, 49, {Item(Op::kEngineClose, eng2)})[0].status, static_cast<uint32_t>(KH_OK));
  EXPECT_EQ(svc_->registry().size(), 2u);
}

TEST_F(ServiceTest, AclClasses) {
  daemon::AclRule r;
  r.uid = 1000;
  r.keysets = {"*"};
  r.classes = daemon::kClassGenerate | daemon::kClassMac;
  Configure({r});
  uint64_t ks = Generate(1000, OpenEngine(1000), KH_ALG_HMAC_SHA256);
  const uint8_t msg[] = {1};
  auto tag = Call(1000, 5, {Item(Op::kMacCompute, ks, 64, msg)});
  ASSERT_EQ(tag[0].status, static_cast<uint32_t>(KH_OK));
  std::vector<uint8_t> t(tag[0].out.begin(), tag[0].out.end());
  EXPECT_EQ(Call(1000, 6, {Item(Op::kMacVerify, ks, 0, msg, t)})[0].status,
            static_cast<uint32_t>(KH_E_POLICY_DENIED));
  RequestItem rnd = Item(Op::kRandomBytes, 0, 16);
  EXPECT_EQ(Call(1000, 16, {rnd})[0].status, static_cast<uint32_t>(KH_E_POLICY_DENIED));
}

TEST_F(ServiceTest, BatchItemsKeepTheirOwnStatus) {
  Configure({});
  uint64_t ks = Generate(1000, OpenEngine(1000), KH_ALG_AES256_GCM);
  const uint8_t pt[] = {'a', 'b', 'c'};
  kh_status fs = KH_E_INTERNAL;
  auto r =
      Call(1000, 80,
           {Item(Op::kAeadEncrypt, ks, 64, pt), Item(Op::kAeadEncrypt, 0x777, 64, pt),
            Item(Op::kHello, ks, 64), Item(Op::kAeadEncrypt, ks, 4, pt), Item(Op::kAeadEncrypt, ks, 64, pt)},
           &fs);
  EXPECT_EQ(fs, KH_OK);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].status, static_cast<uint32_t>(KH_OK));
  EXPECT_EQ(r[0].out.size(), 3u + 34);
  EXPECT_EQ(r[1].status, static_cast<uint32_t>(KH_E_STALE_HANDLE));
  EXPECT_EQ(r[2].status, static_cast<uint32_t>(KH_E_INVALID_ARGUMENT));
  EXPECT_EQ(r[3].status, static_cast<uint32_t>(KH_E_BUFFER_TOO_SMALL));
  EXPECT_EQ(r[3].value, 37u);
  EXPECT_EQ(r[4].status, static_cast<uint32_t>(KH_OK));
  EXPECT_NE(std::memcmp(r[0].out.data(), r[4].out.data(), 37), 0);  // fresh nonces
}

TEST_F(ServiceTest, UndecodableFramesGetAFrameStatus) {
  Configure({});
  auto req = Encode(1, {Item(Op::kAeadEncrypt, 1, 10)});
  req[4] = 2;  // version 2: answered, then the connection is closed
  std::vector<RequestItem> scratch;
  resp_.clear();
  EXPECT_FALSE(svc_->HandleBytes(daemon::Caller{1000, 1000, 1}, Body(req), &scratch, &resp_));
  FrameHeader h;
  std::vector<ResponseItem> out;
  ASSERT_TRUE(wire::DecodeResponse(Body(resp_), &h, &out).ok());
  EXPECT_EQ(h.status, static_cast<uint32_t>(KH_E_UNSUPPORTED));
  EXPECT_EQ(h.request_id, 7u);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace keyhold

namespace keyhold {
namespace {

daemon::Config ConfigureWith(std::vector<std::string> args, std::string* err) {
  std::vector<char*> argv;
  static char name[] = "keyholdd";
  argv.push_back(name);
  for (std::string& a : args) argv.push_back(a.data());
  daemon::Config cfg;
  bool exit_now = false;
  *err = daemon::Configure(static_cast<int>(argv.size()), argv.data(), &cfg, &exit_now);
  return cfg;
}

TEST(DaemonConfigTest, ShippedExampleParses) {
  std::string err;
  daemon::Config cfg =
      ConfigureWith({"--config", std::string(KEYHOLD_TESTDATA_DIR) + "/../packaging/keyholdd.toml.example",
                     "--socket", "/tmp/s"},
                    &err);
  ASSERT_EQ(err, "");
  EXPECT_EQ(cfg.keyset_paths.size(), 2u);
  ASSERT_EQ(cfg.acl.size(), 3u);
  EXPECT_EQ(cfg.acl[0].classes, daemon::kClassEncrypt | daemon::kClassDecrypt | daemon::kClassInfo);
  EXPECT_EQ(cfg.acl[2].classes, daemon::kClassMetrics);
  EXPECT_EQ(cfg.socket_mode, 0660u);
}

TEST(DaemonConfigTest, ErrorsNameTheKey) {
  testing::TempDir dir;
  auto with = [&](const std::string& toml) {
    std::string path = dir / "k.toml";
    std::ofstream(path) << toml;
    std::string err;
    ConfigureWith({"--config", path, "--socket", "/tmp/s"}, &err);
    return err;
  };
  EXPECT_NE(with("[daemon]\nsokcet = \"/x\"\n").find("unknown key \"sokcet\""), std::string::npos);
  EXPECT_NE(with("[daemon]\nworkers = \"two\"\n").find("daemon.workers"), std::string::npos);
  EXPECT_NE(
      with("[[daemon.allow]]\nuid = 1\nops = [\"encrpyt\"]\n").find("unknown operation class \"encrpyt\""),
      std::string::npos);
  EXPECT_NE(with("[[daemon.allow]]\nops = [\"*\"]\n").find("needs uid, gid, user or group"),
            std::string::npos);
  EXPECT_NE(with("[daemon\n").find("line 1"), std::string::npos);
  EXPECT_EQ(with("[daemon]\nsocket_mode = \"0666\"\n").find("0660 or stricter") != std::string::npos, true);
  std::string err;
  ConfigureWith({"--socket", "/tmp/s", "--workers", "x"}, &err);
  EXPECT_NE(err.find("--workers"), std::string::npos);
  ConfigureWith({"--keyset", "a"}, &err);
  EXPECT_NE(err.find("no socket"), std::string::npos);
}

}  // namespace
}  // namespace keyhold
