// Fuzz target: kh_keyset_import_public with arbitrary bytes.
//
// Input: sel (1) || public key bytes
//   sel % 5   algorithm: Ed25519, ECDSA DER, ECDSA P1363, and two that
//             have no public-key import (X25519, HMAC-SHA256), which must be
//             refused without reading the bytes as a key
//
// An accepted key must round-trip: its raw export re-imports to the same
// key, its DER (SubjectPublicKeyInfo) export re-imports to the same key, and
// a raw input (32-byte Ed25519, 65-byte uncompressed P-256) exports as the
// same bytes. Every handle is closed again: the engine's live-handle count
// must come back to where it was (the ABI's leak check).
#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

constexpr kh_alg kAlgs[] = {KH_ALG_ED25519, KH_ALG_ECDSA_P256_SHA256_DER, KH_ALG_ECDSA_P256_SHA256_P1363,
                            KH_ALG_X25519, KH_ALG_HMAC_SHA256};

uint64_t LiveHandles() {
  kh_engine_stats st{};
  FUZZ_CHECK(kh_engine_stats_get(Engine(), &st) == KH_OK);
  return st.live_handles;
}

// Export writes key's public key in format, checking the size-query and
// too-small contracts on the way.
Bytes Export(kh_handle key, uint32_t format) {
  size_t need = 0;
  FUZZ_CHECK(kh_keyset_public_key(key, 0, format, nullptr, 0, &need) == KH_E_BUFFER_TOO_SMALL);
  FUZZ_CHECK(need > 0 && need < 256);
  HeapBuf small(need - 1);
  size_t n = 0;
  FUZZ_CHECK(kh_keyset_public_key(key, 0, format, small.data(), need - 1, &n) == KH_E_BUFFER_TOO_SMALL);
  FUZZ_CHECK(n == need && small.Untouched());
  HeapBuf out(need);
  FUZZ_CHECK(kh_keyset_public_key(key, 0, format, out.data(), need, &n) == KH_OK && n == need);
  return Bytes(out.data(), out.data() + n);
}

// Reimport imports bytes that the engine itself exported: must succeed.
kh_handle Reimport(kh_alg alg, const Bytes& pub) {
  kh_handle h = 0;
  FUZZ_CHECK(kh_keyset_import_public(Engine(), alg, pub.data(), pub.size(), &h) == KH_OK);
  return h;
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint64_t baseline = LiveHandles();
  Reader r(data, size);
  const kh_alg alg = kAlgs[r.U8() % 5];
  const Bytes pub = r.Rest();
  HeapBuf in(pub.size());
  if (!pub.empty()) std::memcpy(in.data(), pub.data(), pub.size());

  kh_handle key = 12345;
  const kh_status s = kh_keyset_import_public(Engine(), alg, in.data(), pub.size(), &key);
  if (alg == KH_ALG_X25519 || alg == KH_ALG_HMAC_SHA256) {
    FUZZ_CHECK(s == KH_E_WRONG_PRIMITIVE && key == 0);
    return 0;
  }
  if (s != KH_OK) {
    FUZZ_CHECK(s == KH_E_INVALID_ARGUMENT && key == 0);
    FUZZ_CHECK(LiveHandles() == baseline);
    return 0;
  }
  kh_keyset_info info{};
  FUZZ_CHECK(kh_keyset_info_get(key, &info) == KH_OK);
  FUZZ_CHECK(info.alg == static_cast<uint32_t>(alg) && info.key_count == 1 &&
             (info.flags & KH_KEYSET_RAW) != 0);

  const Bytes raw = Export(key, KH_PUBKEY_RAW);
  const Bytes der = Export(key, KH_PUBKEY_DER);
  FUZZ_CHECK(raw.size() == (alg == KH_ALG_ED25519 ? 32u : 65u));
  if (pub.size() == raw.size() && (alg == KH_ALG_ED25519 || pub[0] == 0x04)) FUZZ_CHECK(pub == raw);
  const kh_handle from_raw = Reimport(alg, raw), from_der = Reimport(alg, der);
  FUZZ_CHECK(Export(from_raw, KH_PUBKEY_RAW) == raw && Export(from_der, KH_PUBKEY_RAW) == raw);
  FUZZ_CHECK(Export(from_raw, KH_PUBKEY_DER) == der);

  // A verify-only keyset verifies (and refuses) but never signs.
  const uint8_t msg[] = {'m'};
  uint8_t sig[80];
  size_t n = 0;
  FUZZ_CHECK(kh_sig_verify_plain(key, 0, msg, 1, sig, 0) == KH_E_AUTH_FAILED);
  FUZZ_CHECK(kh_sig_sign_plain(key, msg, 1, sig, sizeof(sig), &n) == KH_E_WRONG_PRIMITIVE && n == 0);
  FUZZ_CHECK(kh_sig_sign(key, msg, 1, sig, sizeof(sig), &n) == KH_E_WRONG_PRIMITIVE && n == 0);

  FUZZ_CHECK(kh_handle_close(key) == KH_OK && kh_handle_close(from_raw) == KH_OK);
  FUZZ_CHECK(kh_handle_close(from_der) == KH_OK && kh_handle_close(key) == KH_E_STALE_HANDLE);
  FUZZ_CHECK(LiveHandles() == baseline);
  return 0;
}
