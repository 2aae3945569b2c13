// Fuzz target: the keyholdd frame decoder and the daemon's request path
// (src/wire/frame.cc, src/daemon/service.cc) -- the code that reads what
// an untrusted client sends.
//
// Input: a request frame body (the bytes after the 4-byte length prefix).
// A decoded item whose handle is 1..4 is pointed at one of the objects
// below (an engine, AES-256-GCM, HMAC-SHA256 and Ed25519 keysets owned by
// the caller), so that the fuzzer reaches the operations, not only the
// stale-handle path.
//
// Checks: a request that decodes re-encodes to exactly the input (one
// encoding per request); DecodeResponse never accepts a request; the
// daemon's answer is always one well-formed response frame for the same
// request id with one item per request item, each a defined status other
// than KH_E_INTERNAL, outputs within the requested capacity.
#include "wire/frame.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "daemon/service.h"

namespace {

using keyhold::ByteView;
using namespace keyhold::wire;  // NOLINT(google-build-using-namespace)

void Fail(const char* what) {
  std::fprintf(stderr, "contract violated: %s\n", what);
  std::abort();
}

struct World {
  World() {
    if (kh_engine_open(&engine) != KH_OK) Fail("engine");
    svc = new keyhold::daemon::Service(engine, 64);
    keyhold::daemon::Config cfg;
    cfg.run_uid = 1000;
    std::shared_ptr<keyhold::daemon::State> st;
    if (!keyhold::daemon::State::Load(cfg, engine, 0, &st).empty()) Fail("state");
    svc->SetState(st);
    Make(static_cast<uint16_t>(Op::kEngineOpen), 0, 0);
    Make(static_cast<uint16_t>(Op::kKeysetGenerate), tokens[0], KH_ALG_AES256_GCM);
    Make(static_cast<uint16_t>(Op::kKeysetGenerate), tokens[0], KH_ALG_HMAC_SHA256);
    Make(static_cast<uint16_t>(Op::kKeysetGenerate), tokens[0], KH_ALG_ED25519);
  }
  // A leaked singleton (LLVMFuzzerTestOneInput): never copied.
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  void Make(uint16_t op, uint64_t handle, uint32_t arg) {
    FrameHeader h;
    h.op = op;
    h.count = 1;
    RequestItem it;
    it.op = op;
    it.handle = handle;
    it.arg = arg;
    std::vector<uint8_t> out;
    svc->Handle(caller, h, {it}, &out);
    FrameHeader rh;
    std::vector<ResponseItem> items;
    if (!DecodeResponse(ByteView(out).subspan(4), &rh, &items).ok() || items.size() != 1 ||
        items[0].status != KH_OK) {
      Fail("set-up");
    }
    tokens.push_back(items[0].value);
  }
  kh_handle engine = 0;
  keyhold::daemon::Service* svc = nullptr;
  keyhold::daemon::Caller caller{1000, 1000, 1};
  std::vector<uint64_t> tokens;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* w = new World();
  const ByteView body(data, size);
  FrameHeader h;
  std::vector<RequestItem> items;
  std::vector<ResponseItem> resp_items;
  if (DecodeResponse(body, &h, &resp_items).ok() && size >= 2 && data[1] == kKindRequest) {
    Fail("a request decoded as a response");
  }
  if (!DecodeRequest(body, &h, &items).ok()) return 0;
  std::vector<uint8_t> again;
  EncodeRequest(h, items, &again);
  if (again.size() != size + kLengthPrefixLen ||
      std::memcmp(again.data() + kLengthPrefixLen, data, size) != 0) {
    Fail("a decoded request does not re-encode to its input");
  }
  for (RequestItem& it : items) {
    if (it.handle >= 1 && it.handle <= w->tokens.size()) it.handle = w->tokens[it.handle - 1];
  }
  std::vector<uint8_t> out;
  w->svc->Handle(w->caller, h, items, &out);
  FrameHeader rh;
  if (out.size() < kLengthPrefixLen || ReadLengthPrefix(out.data()) != out.size() - kLengthPrefixLen) {
    Fail("response length prefix");
  }
  if (!DecodeResponse(ByteView(out).subspan(kLengthPrefixLen), &rh, &resp_items).ok())
    Fail("response decode");
  if (rh.request_id != h.request_id || rh.op != h.op) Fail("response names another request");
  if (rh.status != KH_OK) {
    if (!resp_items.empty() || rh.status == KH_E_INTERNAL) Fail("frame-level status");
    return 0;
  }
  if (resp_items.size() != items.size()) Fail("item count");
  for (size_t i = 0; i < items.size(); ++i) {
    const ResponseItem& r = resp_items[i];
    if (std::strcmp(kh_status_name(static_cast<kh_status>(r.status)), "KH_E_UNKNOWN_STATUS") == 0 ||
        r.status == KH_E_INTERNAL || r.status > KH_E_NOT_FOUND + 8) {
      Fail("item status");
    }
    if (r.out.size() > items[i].out_cap) Fail("output beyond the capacity");
    if (r.status != KH_OK && !r.out.empty()) Fail("output on failure");
  }
  // Objects the input created are closed again, so the registry stays bounded.
  for (size_t i = 0; i < items.size(); ++i) {
    const uint16_t op = items[i].op;
    if (resp_items[i].status == KH_OK && (op == 48 || op == 64 || op == 65 || op == 66)) {
      FrameHeader ch;
      ch.op = static_cast<uint16_t>(Op::kHandleClose);
      ch.count = 1;
      RequestItem c;
      c.op = ch.op;
      c.handle = resp_items[i].value;
      std::vector<uint8_t> ignored;
      w->svc->Handle(w->caller, ch, {c}, &ignored);
    }
  }
  return 0;
}
