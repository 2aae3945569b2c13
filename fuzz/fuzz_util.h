// Helpers shared by the libFuzzer targets in fuzz/ (docs/assurance.md).
//
// Each target reads its input with Reader (lengths come from the input, and a
// length longer than what is left is clipped, so every byte string is a
// valid input), runs the engine, and checks the ABI's contracts with
// FUZZ_CHECK: a violated contract aborts, which libFuzzer reports as a crash
// and keeps as a reproducer. Buffers handed to the engine are separate heap
// allocations of exactly the stated size, so ASan sees any overrun.
//
// The golden keys (testdata/golden/formats_v1.json) let the fuzzer reach the
// success paths: mutations of a golden output decrypt or verify for real.
#pragma once

#include <keyhold/keyhold.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "keyset/keyset.h"

namespace keyhold::fuzz {

// FUZZ_CHECK aborts with the failing condition: an ABI contract is broken.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

using Bytes = std::vector<uint8_t>;

// Each golden vector names its key by an id (formats_v1.json); the restored
// keysets give their disabled and destroyed keys these derived ids, and the
// corpus uses them to reach those key states.
inline constexpr uint32_t DisabledId(uint32_t golden_id) { return golden_id ^ 0x10000000u; }
inline constexpr uint32_t DestroyedId(uint32_t golden_id) { return golden_id ^ 0x20000000u; }

// Reader hands out the input front to back; past the end it yields zeros
// and empty spans.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t U8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint16_t U16() { return static_cast<uint16_t>((U8() << 8) | U8()); }
  // Take returns the next min(len, remaining) bytes.
  Bytes Take(size_t len) {
    len = std::min(len, n_);
    Bytes out(p_, p_ + len);
    p_ += len;
    n_ -= len;
    return out;
  }
  Bytes Rest() { return Take(n_); }
  size_t remaining() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
};

// HeapBuf is an output buffer of exactly cap bytes (NULL for cap 0 unless
// asked), filled with a sentinel so the targets can see which bytes the
// engine wrote.
inline constexpr uint8_t kSentinel = 0xA5;
class HeapBuf {
 public:
  explicit HeapBuf(size_t cap, bool null_if_empty = true) : cap_(cap) {
    if (cap != 0 || !null_if_empty) {
      mem_.reset(static_cast<uint8_t*>(std::malloc(cap == 0 ? 1 : cap)));
      std::memset(mem_.get(), kSentinel, cap);
    }
  }
  uint8_t* data() { return mem_.get(); }
  size_t cap() const { return cap_; }
  bool Untouched() const {
    for (size_t i = 0; i < cap_; ++i) {
      if (mem_.get()[i] != kSentinel) return false;
    }
    return true;
  }
  // WipedOrUntouched: after a failure, every byte the engine may have
  // written is zero (keyhold.h: no partial output).
  bool WipedOrUntouched() const {
    for (size_t i = 0; i < cap_; ++i) {
      const uint8_t b = mem_.get()[i];
      if (b != kSentinel && b != 0) return false;
    }
    return true;
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  size_t cap_;
  std::unique_ptr<uint8_t, Free> mem_;
};

// CheckOutput checks the (out, out_cap, &out_len) contract of keyhold.h for
// one call that reported s. need: the output length on success, if the
// target knows it (SIZE_MAX otherwise).
inline void CheckOutput(kh_status s, const HeapBuf& out, size_t out_len, size_t need) {
  if (s == KH_OK) {
    FUZZ_CHECK(out_len <= out.cap());
    if (need != SIZE_MAX) FUZZ_CHECK(out_len == need);
  } else if (s == KH_E_BUFFER_TOO_SMALL) {
    FUZZ_CHECK(out_len > out.cap());
    FUZZ_CHECK(out.Untouched());
  } else {
    FUZZ_CHECK(out_len == 0);
    FUZZ_CHECK(out.WipedOrUntouched());
  }
}

// Decoder statuses (docs/spec/formats.md section 8) plus the buffer and
// alias refusals. KH_E_INTERNAL means a backend failed unexpectedly: a bug.
inline bool DecoderStatus(kh_status s) {
  switch (s) {
    case KH_OK:
    case KH_E_INVALID_ARGUMENT:
    case KH_E_NULL_POINTER:
    case KH_E_BUFFER_TOO_SMALL:
    case KH_E_UNSUPPORTED:
    case KH_E_AUTH_FAILED:
    case KH_E_MALFORMED:
    case KH_E_UNKNOWN_KEY:
    case KH_E_KEY_DISABLED:
    case KH_E_KEY_DESTROYED:
    case KH_E_TOO_LARGE:
      return true;
    default:
      return false;
  }
}

inline Bytes Hex(const std::string& s) {
  Bytes out;
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  }
  return out;
}

inline kh_alg AlgByName(const std::string& name) {
  for (uint32_t a = 1; a < 256; ++a) {
    const char* n = kh_alg_name(static_cast<kh_alg>(a));
    if (n != nullptr && name == n) return static_cast<kh_alg>(a);
  }
  std::fprintf(stderr, "fuzz: unknown algorithm %s in the golden vectors\n", name.c_str());
  std::abort();
}

// Golden: the key and key id of alg's golden vectors.
struct Golden {
  Bytes key;
  uint32_t id;
};

inline Golden GoldenOf(kh_alg alg) {
  static const nlohmann::json doc = [] {
    std::ifstream f(KEYHOLD_TESTDATA_DIR "/golden/formats_v1.json", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  for (const auto& v : doc["vectors"]) {
    if (AlgByName(v["alg"].get<std::string>()) == alg) {
      return {Hex(v["key"].get<std::string>()), v["key_id"].get<uint32_t>()};
    }
  }
  std::fprintf(stderr, "fuzz: no golden key for algorithm %d\n", static_cast<int>(alg));
  std::abort();
}

inline Bytes GoldenKey(kh_alg alg) { return GoldenOf(alg).key; }

// Engine returns the process's engine, opened once (the power-on self-test
// runs here, before any keyset exists).
inline kh_handle Engine() {
  static const kh_handle engine = [] {
    kh_handle e = 0;
    // Every algorithm is fuzzed, including the two a fresh install leaves
    // off; an explicit KEYHOLD_POLICY_ENABLED wins.
    setenv("KEYHOLD_POLICY_ENABLED",
           "AES256_GCM,CHACHA20_POLY1305,XCHACHA20_POLY1305,AES256_SIV,HMAC_SHA256,HMAC_SHA512,ED25519,"
           "ECDSA_P256_SHA256_DER,ECDSA_P256_SHA256_P1363,X25519,HKDF_SHA256,HKDF_SHA512",
           0);
    FUZZ_CHECK(kh_engine_open(&e) == KH_OK);
    return e;
  }();
  return engine;
}

// RestoreGolden builds a managed keyset (internal API, as tests/golden_test.cc
// does) holding alg's golden key as the enabled primary under its golden id,
// a disabled key and a destroyed key, so every decoder check of the spec is
// reachable with real key material.
inline std::unique_ptr<keyset::Keyset> RestoreGolden(kh_alg alg) {
  (void)Engine();
  const Golden g = GoldenOf(alg);
  const keyset::Keyset::RestoredKey keys[] = {
      {g.id, KH_KEY_ENABLED, g.key, 0},
      {DisabledId(g.id), KH_KEY_DISABLED, g.key, 0},
      {DestroyedId(g.id), KH_KEY_DESTROYED, {}, 0},
  };
  auto ks = keyset::Keyset::Restore(alg, 0, keys, g.id, 0);
  FUZZ_CHECK(ks.ok());
  return std::move(ks).value();
}

// HeaderKeyId reads the key id of a managed output (0 if too short).
inline uint32_t HeaderKeyId(const Bytes& in) {
  if (in.size() < 6) return 0;
  return (uint32_t{in[2]} << 24) | (uint32_t{in[3]} << 16) | (uint32_t{in[4]} << 8) | in[5];
}

// ManagedKeyset is a generated keyset reached through the C ABI, with a
// disabled and a destroyed key besides its primary. Its ids are random, so
// MapIds rewrites a header naming one of the golden ids to the matching
// real id: the fuzzer's golden-derived inputs then reach each key state
// through kh_* calls too.
struct ManagedKeyset {
  uint32_t golden_id;
  kh_handle handle = 0;
  uint32_t primary = 0, disabled = 0, destroyed = 0;

  explicit ManagedKeyset(kh_alg alg) : golden_id(GoldenOf(alg).id) {
    FUZZ_CHECK(kh_keyset_generate(Engine(), alg, 0, &handle) == KH_OK);
    kh_keyset_info info{};
    FUZZ_CHECK(kh_keyset_info_get(handle, &info) == KH_OK);
    const uint32_t first = info.primary_key_id;
    FUZZ_CHECK(kh_keyset_rotate(handle, &disabled) == KH_OK);
    FUZZ_CHECK(kh_keyset_rotate(handle, &destroyed) == KH_OK);
    FUZZ_CHECK(kh_keyset_rotate(handle, &primary) == KH_OK);
    FUZZ_CHECK(kh_keyset_disable(handle, disabled) == KH_OK);
    FUZZ_CHECK(kh_keyset_destroy_key(handle, destroyed) == KH_OK);
    FUZZ_CHECK(kh_keyset_destroy_key(handle, first) == KH_OK);
  }

  void MapIds(Bytes& in) const {
    if (in.size() < 6) return;
    const uint32_t id = HeaderKeyId(in);
    uint32_t real = id;
    if (id == golden_id) real = primary;
    if (id == DisabledId(golden_id)) real = disabled;
    if (id == DestroyedId(golden_id)) real = destroyed;
    in[2] = static_cast<uint8_t>(real >> 24);
    in[3] = static_cast<uint8_t>(real >> 16);
    in[4] = static_cast<uint8_t>(real >> 8);
    in[5] = static_cast<uint8_t>(real);
  }
};

// Ptr returns b's data, or NULL for an empty buffer (the ABI's empty buffer).
inline const uint8_t* Ptr(const Bytes& b) { return b.empty() ? nullptr : b.data(); }

}  // namespace keyhold::fuzz
