// Fuzz target: AEAD decryption of arbitrary bytes, for every AEAD algorithm.
//
// Input: sel (1) || aad_len (1) || [nonce_len (1) || nonce] || aad || ct
//   sel & 3 (mod 3)  algorithm: AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305
//   (sel >> 2) & 3   output buffer: 0 large enough, 1 one byte short,
//                    2 NULL (size query), 3 in place (out = the ct's body)
//   (sel >> 4) & 3   path: 0 managed keyset (header || nonce || ct || tag),
//                    1 raw keyset kh_aead_decrypt (nonce || ct || tag),
//                    2/3 raw kh_aead_open_nonce with the nonce from the input
//                    (the nonce_len byte is present only on this path)
//
// Managed path: the same bytes go to a restored keyset holding the golden
// key (internal API, so golden outputs and their mutations decrypt for real)
// and, through kh_aead_decrypt, to a generated keyset (golden key ids
// mapped to its real ones). Raw paths import the golden key with
// kh_keyset_import_raw, and for AES-GCM and ChaCha20-Poly1305 also open the
// input with the OpenSSL and the intel-ipsec-mb backends directly: both must
// give the same status and plaintext (a differential check).
#include <array>

#include "aead/aead.h"
#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

constexpr kh_alg kAlgs[] = {KH_ALG_AES256_GCM, KH_ALG_CHACHA20_POLY1305, KH_ALG_XCHACHA20_POLY1305};

struct AlgState {
  kh_alg alg;
  size_t nonce_len;
  std::unique_ptr<keyset::Keyset> golden;
  ManagedKeyset managed;
  kh_handle raw = 0;
  std::unique_ptr<aead::Aead> openssl, ipsec_mb;  // null where not applicable
};

AlgState& State(size_t i) {
  static std::array<std::unique_ptr<AlgState>, 3> states = [] {
    std::array<std::unique_ptr<AlgState>, 3> s;
    for (size_t k = 0; k < 3; ++k) {
      const kh_alg alg = kAlgs[k];
      kh_alg_sizes sizes{};
      FUZZ_CHECK(kh_alg_sizes_get(alg, &sizes) == KH_OK);
      auto st = std::unique_ptr<AlgState>(
          new AlgState{alg, sizes.nonce_len, RestoreGolden(alg), ManagedKeyset(alg), 0, nullptr, nullptr});
      const Bytes key = GoldenKey(alg);
      FUZZ_CHECK(kh_keyset_import_raw(Engine(), alg, key.data(), key.size(), &st->raw) == KH_OK);
      auto make = [&](bool ipsec_mb) -> StatusOr<std::unique_ptr<aead::Aead>> {
        if (alg == KH_ALG_AES256_GCM) {
          return ipsec_mb ? aead::NewAes256GcmIpsecMb(key) : aead::NewAes256GcmOpenSSL(key);
        }
        if (alg == KH_ALG_CHACHA20_POLY1305) {
          return ipsec_mb ? aead::NewChaCha20Poly1305IpsecMb(key) : aead::NewChaCha20Poly1305OpenSSL(key);
        }
        return Status(KH_E_UNSUPPORTED);
      };
      auto a = make(false);
      auto b = make(true);
      // The differential check needs both; ipsec-mb is absent off x86-64.
      if (a.ok() && b.ok()) {
        st->openssl = std::move(a).value();
        st->ipsec_mb = std::move(b).value();
      }
      s[k] = std::move(st);
    }
    return s;
  }();
  return *states[i];
}

// Differential: both backends open (nonce, aad, ct_tag) identically.
void CompareBackends(const AlgState& st, const Bytes& nonce, const Bytes& aad, const Bytes& ct_tag) {
  if (!st.openssl || ct_tag.size() < aead::kTagLen) return;
  if (!st.openssl->NonceLenOk(nonce.size())) return;
  const size_t n = ct_tag.size() - aead::kTagLen;
  HeapBuf a(n), b(n);
  const Status sa = st.openssl->Open(nonce, {}, aad, ct_tag, a.data());
  const Status sb = st.ipsec_mb->Open(nonce, {}, aad, ct_tag, b.data());
  FUZZ_CHECK(sa.code() == sb.code());
  FUZZ_CHECK(sa.code() == KH_OK || sa.code() == KH_E_AUTH_FAILED);
  if (sa.ok() && n > 0) FUZZ_CHECK(std::memcmp(a.data(), b.data(), n) == 0);
  if (!sa.ok()) FUZZ_CHECK(a.WipedOrUntouched() && b.WipedOrUntouched());
}

// Decrypt runs one decryption into the buffer mode asked for and checks the
// output contract. prefix: header + nonce bytes before the body (in place).
template <typename Call>
void Decrypt(const Bytes& ct, size_t prefix, size_t need, int mode, Call call) {
  if (mode == 3 && ct.size() >= prefix) {
    Bytes io = ct;  // in place: out starts where the ciphertext body does
    HeapBuf ct_buf(io.size(), false);
    if (!io.empty()) std::memcpy(ct_buf.data(), io.data(), io.size());
    size_t out_len = 7;
    const kh_status s = call(ct_buf.data(), io.size(), ct_buf.data() + prefix, io.size() - prefix, &out_len);
    FUZZ_CHECK(DecoderStatus(s));
    if (s == KH_OK) {
      FUZZ_CHECK(out_len == need);
    } else {
      FUZZ_CHECK(out_len == 0 || s == KH_E_BUFFER_TOO_SMALL);
      for (size_t i = prefix; i < io.size(); ++i) {
        const uint8_t b = ct_buf.data()[i];
        FUZZ_CHECK(b == io[i] || b == 0);
      }
    }
    return;
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
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t sel = r.U8();
  const size_t alg_index = (sel & 3) % 3;
  const int mode = (sel >> 2) & 3;
  const int path = (sel >> 4) & 3;
  AlgState& st = State(alg_index);
  const size_t aad_len = r.U8();
  Bytes nonce;
  if (path >= 2) nonce = r.Take(r.U8());
  const Bytes aad = r.Take(aad_len);
  Bytes ct = r.Rest();
  const size_t tag = keyhold::aead::kTagLen;

  if (path == 0) {
    const size_t prefix = 6 + st.nonce_len;
    const size_t need = ct.size() >= prefix + tag ? ct.size() - prefix - tag : SIZE_MAX;
    Decrypt(ct, prefix, need, mode,
            [&](const uint8_t* in, size_t in_len, uint8_t* out, size_t cap, size_t* len) {
              keyhold::ByteView view = in_len == 0 ? keyhold::ByteView() : keyhold::ByteView(in, in_len);
              return st.golden->AeadDecrypt(view, aad, {out, out == nullptr ? 0 : cap, len}).code();
            });
    st.managed.MapIds(ct);
    Decrypt(ct, prefix, need, mode,
            [&](const uint8_t* in, size_t in_len, uint8_t* out, size_t cap, size_t* len) {
              return kh_aead_decrypt(st.managed.handle, in, in_len, Ptr(aad), aad.size(), out, cap, len);
            });
  } else if (path == 1) {
    const size_t prefix = st.nonce_len;
    const size_t need = ct.size() >= prefix + tag ? ct.size() - prefix - tag : SIZE_MAX;
    Decrypt(ct, prefix, need, mode,
            [&](const uint8_t* in, size_t in_len, uint8_t* out, size_t cap, size_t* len) {
              return kh_aead_decrypt(st.raw, in, in_len, Ptr(aad), aad.size(), out, cap, len);
            });
    if (ct.size() >= prefix) {
      CompareBackends(st, Bytes(ct.begin(), ct.begin() + static_cast<ptrdiff_t>(prefix)), aad,
                      Bytes(ct.begin() + static_cast<ptrdiff_t>(prefix), ct.end()));
    }
  } else {
    const size_t need = ct.size() >= tag ? ct.size() - tag : SIZE_MAX;
    HeapBuf nonce_buf(nonce.size());
    if (!nonce.empty()) std::memcpy(nonce_buf.data(), nonce.data(), nonce.size());
    Decrypt(ct, 0, need, mode, [&](const uint8_t* in, size_t in_len, uint8_t* out, size_t cap, size_t* len) {
      return kh_aead_open_nonce(st.raw, nonce_buf.data(), nonce.size(), in, in_len, Ptr(aad), aad.size(), out,
                                cap, len);
    });
    CompareBackends(st, nonce, aad, ct);
  }
  return 0;
}
