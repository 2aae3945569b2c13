// Fuzz target: MAC verification of arbitrary tags.
//
// Input: sel (1) || msg_len (2, big-endian) || msg || tag
//   sel & 1          algorithm: HMAC-SHA256, HMAC-SHA512
//   (sel >> 1) & 1   path: 0 managed keyset (tag = header || mac),
//                    1 raw keyset (bare tag, truncation allowed)
//
// The verdict is predicted exactly and compared: a tag verifies if and only
// if it equals the tag the same key computes (managed: in full, header
// included; raw: its leftmost bytes, at least max(10, full/2) of them).
// Managed tags also go through kh_mac_verify on a generated keyset (golden
// ids mapped) for the boundary and key-state paths.
#include <algorithm>

#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

struct MacState {
  kh_alg alg;
  std::unique_ptr<keyset::Keyset> golden;
  ManagedKeyset managed;
  kh_handle raw = 0;
};

MacState& State(size_t i) {
  static MacState* states[2] = {nullptr, nullptr};
  if (states[i] == nullptr) {
    const kh_alg alg = i == 0 ? KH_ALG_HMAC_SHA256 : KH_ALG_HMAC_SHA512;
    states[i] = new MacState{alg, RestoreGolden(alg), ManagedKeyset(alg), 0};
    const Bytes key = GoldenKey(alg);
    FUZZ_CHECK(kh_keyset_import_raw(Engine(), alg, key.data(), key.size(), &states[i]->raw) == KH_OK);
  }
  return *states[i];
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t sel = r.U8();
  MacState& st = State(sel & 1);
  const bool raw = ((sel >> 1) & 1) != 0;
  const Bytes msg = r.Take(r.U16());
  Bytes tag = r.Rest();
  HeapBuf msg_buf(msg.size()), tag_buf(tag.size());
  if (!msg.empty()) std::memcpy(msg_buf.data(), msg.data(), msg.size());
  const size_t full = st.alg == KH_ALG_HMAC_SHA256 ? 32 : 64;

  if (!raw) {
    Bytes expected(6 + full);
    size_t n = 0;
    FUZZ_CHECK(st.golden->MacCompute(msg, {expected.data(), expected.size(), &n}).ok() &&
               n == expected.size());
    const keyhold::Status s = st.golden->MacVerify(msg, tag);
    FUZZ_CHECK(DecoderStatus(s.code()));
    FUZZ_CHECK(s.ok() == (tag == expected));
    st.managed.MapIds(tag);
    if (!tag.empty()) std::memcpy(tag_buf.data(), tag.data(), tag.size());
    const kh_status a =
        kh_mac_verify(st.managed.handle, msg_buf.data(), msg.size(), tag_buf.data(), tag.size());
    FUZZ_CHECK(DecoderStatus(a));
  } else {
    HeapBuf expected(full);
    size_t n = 0;
    FUZZ_CHECK(kh_mac_compute(st.raw, msg_buf.data(), msg.size(), expected.data(), full, &n) == KH_OK);
    FUZZ_CHECK(n == full);
    if (!tag.empty()) std::memcpy(tag_buf.data(), tag.data(), tag.size());
    const kh_status s = kh_mac_verify(st.raw, msg_buf.data(), msg.size(), tag_buf.data(), tag.size());
    const bool should = tag.size() >= std::max<size_t>(10, full / 2) && tag.size() <= full &&
                        std::memcmp(tag.data(), expected.data(), tag.size()) == 0;
    FUZZ_CHECK(s == KH_OK || s == KH_E_AUTH_FAILED);
    FUZZ_CHECK((s == KH_OK) == should);
  }
  return 0;
}
