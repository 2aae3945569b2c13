// Fuzz target: deterministic AEAD (AES-256-SIV) decryption of arbitrary bytes.
//
// Input: sel (1) || aad_len (1) || aad || ct
//   sel & 3          output buffer: 0 large enough, 1 one byte short,
//                    2 NULL (size query), 3 in place (out = the ct's body)
//   (sel >> 2) & 1   path: 0 managed keyset (header || siv || ct),
//                    1 raw keyset (siv || ct)
//
// Managed path: a restored keyset with the golden key (internal API) and a
// generated keyset through kh_daead_decrypt (golden ids mapped). Raw path:
// the golden key imported with kh_keyset_import_raw. Whenever a decryption
// succeeds under the golden key, encrypting the plaintext again must give
// the input back byte for byte (the primitive is deterministic), which also
// exercises the empty-plaintext S2V path (docs/decisions/0006).
#include "daead/daead.h"
#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

struct DaeadState {
  std::unique_ptr<keyset::Keyset> golden = RestoreGolden(KH_ALG_AES256_SIV);
  ManagedKeyset managed{KH_ALG_AES256_SIV};
  kh_handle raw = [] {
    const Bytes key = GoldenKey(KH_ALG_AES256_SIV);
    kh_handle h = 0;
    FUZZ_CHECK(kh_keyset_import_raw(Engine(), KH_ALG_AES256_SIV, key.data(), key.size(), &h) == KH_OK);
    return h;
  }();
};

DaeadState& State() {
  static DaeadState* s = new DaeadState();
  return *s;
}

constexpr size_t kSiv = daead::kSivLen;

// Run decrypts ct with call in the buffer mode asked for, checks the output
// contract and returns the plaintext on success.
template <typename Call>
std::optional<Bytes> Run(const Bytes& ct, size_t prefix, int mode, Call call) {
  const size_t need = ct.size() >= prefix ? ct.size() - prefix : SIZE_MAX;
  if (mode == 3 && ct.size() >= prefix) {
    HeapBuf io(ct.size(), false);
    if (!ct.empty()) std::memcpy(io.data(), ct.data(), ct.size());
    size_t out_len = 7;
    const kh_status s = call(io.data(), ct.size(), io.data() + prefix, need, &out_len);
    FUZZ_CHECK(DecoderStatus(s));
    if (s != KH_OK) {
      FUZZ_CHECK(out_len == 0);
      for (size_t i = prefix; i < ct.size(); ++i) FUZZ_CHECK(io.data()[i] == ct[i] || io.data()[i] == 0);
      return std::nullopt;
    }
    FUZZ_CHECK(out_len == need);
    return Bytes(io.data() + prefix, io.data() + prefix + need);
  }
  HeapBuf in(ct.size());
  if (!ct.empty()) std::memcpy(in.data(), ct.data(), ct.size());
  size_t cap = ct.size();
  if (mode == 1) cap = need == SIZE_MAX || need == 0 ? 0 : need - 1;
  if (mode == 2) cap = 0;
  HeapBuf out(cap);
  size_t out_len = 7;
  const kh_status s = call(in.data(), ct.size(), out.data(), cap, &out_len);
  FUZZ_CHECK(DecoderStatus(s));
  CheckOutput(s, out, out_len, need);
  if (s != KH_OK) return std::nullopt;
  return Bytes(out.data(), out.data() + out_len);
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t sel = r.U8();
  const int mode = sel & 3;
  const bool raw = ((sel >> 2) & 1) != 0;
  const Bytes aad = r.Take(r.U8());
  Bytes ct = r.Rest();
  DaeadState& st = State();

  if (!raw) {
    const auto pt =
        Run(ct, 6 + kSiv, mode, [&](const uint8_t* in, size_t n, uint8_t* out, size_t cap, size_t* len) {
          const keyhold::ByteView view = n == 0 ? keyhold::ByteView() : keyhold::ByteView(in, n);
          return st.golden->DaeadDecrypt(view, aad, {out, out == nullptr ? 0 : cap, len}).code();
        });
    if (pt && HeaderKeyId(ct) == st.managed.golden_id) {
      Bytes again(ct.size());
      size_t n = 0;
      FUZZ_CHECK(st.golden->DaeadEncrypt(*pt, aad, {again.data(), again.size(), &n}).ok());
      FUZZ_CHECK(n == ct.size() && again == ct);
    }
    st.managed.MapIds(ct);
    Run(ct, 6 + kSiv, mode, [&](const uint8_t* in, size_t n, uint8_t* out, size_t cap, size_t* len) {
      return kh_daead_decrypt(st.managed.handle, in, n, Ptr(aad), aad.size(), out, cap, len);
    });
  } else {
    const auto pt =
        Run(ct, kSiv, mode, [&](const uint8_t* in, size_t n, uint8_t* out, size_t cap, size_t* len) {
          return kh_daead_decrypt(st.raw, in, n, Ptr(aad), aad.size(), out, cap, len);
        });
    if (pt) {
      Bytes again(ct.size());
      size_t n = 0;
      FUZZ_CHECK(kh_daead_encrypt(st.raw, Ptr(*pt), pt->size(), Ptr(aad), aad.size(), again.data(),
                                  again.size(), &n) == KH_OK);
      FUZZ_CHECK(n == ct.size() && again == ct);
    }
  }
  return 0;
}
