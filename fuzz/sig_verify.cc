// Fuzz target: signature verification of arbitrary bytes, managed and plain,
// Ed25519 and ECDSA P-256 in DER and P1363 encodings.
//
// Input: sel (1) || msg_len (2, big-endian) || msg || sig
//   sel & 3 (mod 3)  algorithm: Ed25519, ECDSA DER, ECDSA P1363
//   (sel >> 2) & 3   path: 0 managed (sig = header || signature over
//                    header || msg), 1 kh_sig_verify_plain on a raw keyset
//                    made from the golden private key, 2 the same on a
//                    verify-only keyset (kh_keyset_import_public), 3
//                    kh_sig_verify on that verify-only raw keyset
//
// Oracles beyond the ABI contract: an accepted DER signature is canonical
// DER (decoding and re-encoding gives the same bytes; formats.md section 6);
// an accepted P1363 signature is 64 bytes; an accepted Ed25519 signature is
// the one signature the key makes for that message (Ed25519 is
// deterministic and libsodium rejects non-canonical S), so no malleated
// signature verifies.
#include <openssl/ecdsa.h>

#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

constexpr kh_alg kAlgs[] = {KH_ALG_ED25519, KH_ALG_ECDSA_P256_SHA256_DER, KH_ALG_ECDSA_P256_SHA256_P1363};

struct SigState {
  kh_alg alg;
  std::unique_ptr<keyset::Keyset> golden;
  ManagedKeyset managed;
  kh_handle raw = 0, pub = 0;
};

SigState& State(size_t i) {
  static SigState* states[3] = {nullptr, nullptr, nullptr};
  if (states[i] == nullptr) {
    const kh_alg alg = kAlgs[i];
    auto* st = new SigState{alg, RestoreGolden(alg), ManagedKeyset(alg), 0, 0};
    const Bytes key = GoldenKey(alg);
    FUZZ_CHECK(kh_keyset_import_raw(Engine(), alg, key.data(), key.size(), &st->raw) == KH_OK);
    uint8_t pub[128];
    size_t n = 0;
    FUZZ_CHECK(kh_keyset_public_key(st->raw, 0, KH_PUBKEY_RAW, pub, sizeof(pub), &n) == KH_OK);
    FUZZ_CHECK(kh_keyset_import_public(Engine(), alg, pub, n, &st->pub) == KH_OK);
    states[i] = st;
  }
  return *states[i];
}

// Accepted checks what a verified signature body must look like.
void Accepted(const SigState& st, const Bytes& msg, const uint8_t* sig, size_t len, bool managed) {
  if (st.alg == KH_ALG_ECDSA_P256_SHA256_P1363) {
    FUZZ_CHECK(len == 64);
  } else if (st.alg == KH_ALG_ECDSA_P256_SHA256_DER) {
    const uint8_t* p = sig;
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
    FUZZ_CHECK(s != nullptr && p == sig + len);
    uint8_t* der = nullptr;
    const int n = i2d_ECDSA_SIG(s, &der);
    FUZZ_CHECK(n > 0 && static_cast<size_t>(n) == len && std::memcmp(der, sig, len) == 0);
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
  } else {
    uint8_t again[6 + 64];
    size_t n = 0;
    if (managed) {
      FUZZ_CHECK(st.golden->SigSign(msg, {again, sizeof(again), &n}).ok() && n == sizeof(again));
      FUZZ_CHECK(len == 64 && std::memcmp(again + 6, sig, 64) == 0);
    } else {
      FUZZ_CHECK(kh_sig_sign_plain(st.raw, Ptr(msg), msg.size(), again, sizeof(again), &n) == KH_OK);
      FUZZ_CHECK(n == 64 && len == 64 && std::memcmp(again, sig, 64) == 0);
    }
  }
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t sel = r.U8();
  SigState& st = State((sel & 3) % 3);
  const int path = (sel >> 2) & 3;
  const Bytes msg = r.Take(r.U16());
  Bytes sig = r.Rest();
  HeapBuf msg_buf(msg.size()), sig_buf(sig.size());
  if (!msg.empty()) std::memcpy(msg_buf.data(), msg.data(), msg.size());
  auto load = [&] {
    if (!sig.empty()) std::memcpy(sig_buf.data(), sig.data(), sig.size());
  };

  kh_status s = KH_OK;
  switch (path) {
    case 0: {
      s = st.golden->SigVerify(msg, sig).code();
      FUZZ_CHECK(DecoderStatus(s));
      if (s == KH_OK) Accepted(st, msg, sig.data() + 6, sig.size() - 6, true);
      st.managed.MapIds(sig);
      load();
      s = kh_sig_verify(st.managed.handle, msg_buf.data(), msg.size(), sig_buf.data(), sig.size());
      // The generated keys differ from the golden ones: only a signature the
      // fuzzer could not forge would verify.
      FUZZ_CHECK(s != KH_OK && DecoderStatus(s));
      return 0;
    }
    case 1:
      load();
      s = kh_sig_verify_plain(st.raw, 0, msg_buf.data(), msg.size(), sig_buf.data(), sig.size());
      break;
    case 2:
      load();
      s = kh_sig_verify_plain(st.pub, 0, msg_buf.data(), msg.size(), sig_buf.data(), sig.size());
      break;
    default:
      load();
      s = kh_sig_verify(st.pub, msg_buf.data(), msg.size(), sig_buf.data(), sig.size());
      break;
  }
  FUZZ_CHECK(s == KH_OK || s == KH_E_AUTH_FAILED);
  if (s == KH_OK) Accepted(st, msg, sig.data(), sig.size(), false);
  return 0;
}
