// Fuzz target: kh_batch over an arbitrary sequence of items.
//
// Input: flags (1) || item*
//   flags bit 0   out_failed is NULL
//   flags bit 1   items is NULL (must be refused unless the count is 0)
//   flags bit 2   count is KH_MAX_BATCH + 1 (must be refused, nothing run)
// item: handle (1) [|| forged handle (8)] || op (1) || iflags (1)
//       [|| cap (1)] || in_len (1 or 2) || in2_len (1) || in3_len (1)
//       || the in, in2, in3 bytes not taken from an earlier output
//   handle % 13   one of the keysets below, a closed (stale) keyset, 0, the
//                 engine (wrong type) or a forged value read from the input
//   op            op % 12 (0 and 11 are not operations); 255 = 0xFFFFFFFF
//   iflags bit 0  in = the output of the previous item (chains encrypt ->
//                 decrypt, sign -> verify, ...)
//         bit 1   in is NULL with a non-zero length (no in bytes read)
//         bit 2   out is NULL (with whatever capacity)
//         bit 3   cap byte present: out_cap = that byte (often too small);
//                 otherwise out_cap = in_len + 160
//         bit 4   in2 = the output of the previous item (a tag, signature)
//         bit 5   out aliases in (same pointer): in-place or refused
//         bit 6   in_len is 2 bytes
// At most 32 items per input; every buffer is its own heap allocation of
// exactly its length.
//
// Checks: the call's status; every item's status is a defined code other
// than KH_E_INTERNAL; the (out, out_cap, &out_len) contract per item;
// out_failed counts the failed items; and each item gives what the single
// call gives for the same inputs (same status, same output; randomized
// outputs -- AEAD encryption, ECDSA -- must decrypt or verify instead).
#include "fuzz_util.h"

namespace keyhold::fuzz {
namespace {

constexpr size_t kMaxItems = 32;
constexpr size_t kHandles = 13;

struct Handles {
  kh_handle h[kHandles] = {};
};

kh_handle Gen(kh_alg alg) {
  kh_handle h = 0;
  FUZZ_CHECK(kh_keyset_generate(Engine(), alg, 0, &h) == KH_OK);
  return h;
}

kh_handle Raw(kh_alg alg) {
  const Bytes key = GoldenKey(alg);
  kh_handle h = 0;
  FUZZ_CHECK(kh_keyset_import_raw(Engine(), alg, key.data(), key.size(), &h) == KH_OK);
  return h;
}

const Handles& GetHandles() {
  static const Handles hs = [] {
    Handles s;
    s.h[0] = Gen(KH_ALG_AES256_GCM);
    s.h[1] = Raw(KH_ALG_CHACHA20_POLY1305);
    s.h[2] = Gen(KH_ALG_AES256_SIV);
    s.h[3] = Gen(KH_ALG_HMAC_SHA256);
    s.h[4] = Gen(KH_ALG_ED25519);
    s.h[5] = Raw(KH_ALG_ECDSA_P256_SHA256_P1363);
    s.h[6] = Gen(KH_ALG_X25519);
    s.h[7] = Gen(KH_ALG_XCHACHA20_POLY1305);
    s.h[8] = Gen(KH_ALG_HMAC_SHA512);
    FUZZ_CHECK(kh_handle_close(s.h[8]) == KH_OK);  // stale from here on
    s.h[9] = 0;
    s.h[10] = Engine();
    s.h[11] = 0;  // forged: read from the input
    s.h[12] = Raw(KH_ALG_AES256_GCM);
    return s;
  }();
  return hs;
}

// Item: one batch item plus the buffers it points into.
struct Item {
  kh_batch_item it{};
  std::unique_ptr<HeapBuf> in, in2, in3, out;
  bool aliased = false;
  size_t cap = 0;
};

std::unique_ptr<HeapBuf> Copy(const Bytes& b) {
  auto buf = std::make_unique<HeapBuf>(b.size());
  if (!b.empty()) std::memcpy(buf->data(), b.data(), b.size());
  return buf;
}

bool HandleError(kh_status s) {
  return s == KH_E_STALE_HANDLE || s == KH_E_WRONG_HANDLE_TYPE || s == KH_E_NULL_POINTER;
}

// Single runs the single call an item stands for, into out.
kh_status Single(const kh_batch_item& it, uint8_t* out, size_t cap, size_t* len) {
  switch (it.op) {
    case KH_OP_AEAD_ENCRYPT:
      return kh_aead_encrypt(it.keyset, it.in, it.in_len, it.in2, it.in2_len, out, cap, len);
    case KH_OP_AEAD_DECRYPT:
      return kh_aead_decrypt(it.keyset, it.in, it.in_len, it.in2, it.in2_len, out, cap, len);
    case KH_OP_DAEAD_ENCRYPT:
      return kh_daead_encrypt(it.keyset, it.in, it.in_len, it.in2, it.in2_len, out, cap, len);
    case KH_OP_DAEAD_DECRYPT:
      return kh_daead_decrypt(it.keyset, it.in, it.in_len, it.in2, it.in2_len, out, cap, len);
    case KH_OP_MAC_COMPUTE:
      return kh_mac_compute(it.keyset, it.in, it.in_len, out, cap, len);
    case KH_OP_MAC_VERIFY:
      *len = 0;
      return kh_mac_verify(it.keyset, it.in, it.in_len, it.in2, it.in2_len);
    case KH_OP_SIG_SIGN:
      return kh_sig_sign(it.keyset, it.in, it.in_len, out, cap, len);
    case KH_OP_SIG_VERIFY:
      *len = 0;
      return kh_sig_verify(it.keyset, it.in, it.in_len, it.in2, it.in2_len);
    case KH_OP_AEAD_SEAL_NONCE:
      return kh_aead_seal_nonce(it.keyset, it.in3, it.in3_len, it.in, it.in_len, it.in2, it.in2_len, out, cap,
                                len);
    case KH_OP_AEAD_OPEN_NONCE:
      return kh_aead_open_nonce(it.keyset, it.in3, it.in3_len, it.in, it.in_len, it.in2, it.in2_len, out, cap,
                                len);
    default:  // not reached: CheckItem handles the non-operations
      *len = 0;
      return KH_E_INVALID_ARGUMENT;
  }
}

// Randomized: the op's output differs from run to run (fresh nonce, ECDSA's
// random k), so the single call is compared by what its output does.
bool Randomized(const kh_batch_item& it) {
  if (it.op == KH_OP_AEAD_ENCRYPT) return true;
  if (it.op != KH_OP_SIG_SIGN) return false;
  kh_keyset_info info{};
  return kh_keyset_info_get(it.keyset, &info) == KH_OK && info.alg != KH_ALG_ED25519;
}

// RoundTrip checks that a randomized output decrypts or verifies.
void RoundTrip(const kh_batch_item& it, const uint8_t* out, size_t len) {
  if (it.op == KH_OP_AEAD_ENCRYPT) {
    HeapBuf pt(len);
    size_t n = 0;
    FUZZ_CHECK(kh_aead_decrypt(it.keyset, out, len, it.in2, it.in2_len, pt.data(), len, &n) == KH_OK);
    FUZZ_CHECK(n == it.in_len && (n == 0 || std::memcmp(pt.data(), it.in, n) == 0));
  } else {
    FUZZ_CHECK(kh_sig_verify(it.keyset, it.in, it.in_len, out, len) == KH_OK);
  }
}

void CheckItem(const Item& item) {
  const kh_batch_item& it = item.it;
  const kh_status s = static_cast<kh_status>(it.status);
  FUZZ_CHECK(it.status <= KH_E_ENGINE_CLOSED && s != KH_E_INTERNAL && s != KH_E_SELF_TEST_FAILED);
  const bool no_output = it.op == KH_OP_MAC_VERIFY || it.op == KH_OP_SIG_VERIFY;
  if (no_output || s != KH_E_BUFFER_TOO_SMALL) FUZZ_CHECK(s == KH_OK || it.out_len == 0);
  if (no_output) FUZZ_CHECK(it.out_len == 0);
  if (item.aliased) return;  // the buffer held the input: no sentinel to check
  if (it.out != nullptr) CheckOutput(s, *item.out, it.out_len, SIZE_MAX);

  // An op that is not an operation has no single call: refused either for
  // it or, first, for the handle.
  if (it.op < KH_OP_AEAD_ENCRYPT || it.op > KH_OP_AEAD_OPEN_NONCE) {
    FUZZ_CHECK(s == KH_E_INVALID_ARGUMENT || HandleError(s));
    return;
  }
  // The single call, into a fresh buffer of the same capacity.
  HeapBuf out(it.out == nullptr ? 0 : item.cap);
  size_t len = 99;
  const kh_status single = Single(it, it.out == nullptr ? nullptr : out.data(), item.cap, &len);
  // Argument and handle errors may be reported in another order (the batch
  // looks the handle up first); both must still refuse.
  const bool handle_error = HandleError(s) || HandleError(single);
  if (single != s && !(HandleError(s) && HandleError(single))) {
    std::fprintf(stderr, "batch item: op %u, batch status %s, single call %s\n", it.op, kh_status_name(s),
                 kh_status_name(single));
  }
  if (handle_error) {
    FUZZ_CHECK(HandleError(s) && HandleError(single));
    return;
  }
  FUZZ_CHECK(single == s);
  FUZZ_CHECK(len == it.out_len);
  if (s != KH_OK || it.out_len == 0) return;
  if (Randomized(it)) {
    RoundTrip(it, it.out, it.out_len);
    RoundTrip(it, out.data(), len);
  } else {
    FUZZ_CHECK(std::memcmp(out.data(), it.out, len) == 0);
  }
}

}  // namespace
}  // namespace keyhold::fuzz

using namespace keyhold::fuzz;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Handles& hs = GetHandles();
  Reader r(data, size);
  const uint8_t flags = r.U8();

  std::vector<Item> items;
  while (r.remaining() > 0 && items.size() < kMaxItems) {
    Item item;
    kh_batch_item& it = item.it;
    const size_t hi = r.U8() % kHandles;
    it.keyset = hs.h[hi];
    if (hi == 11)
      it.keyset = (uint64_t{r.U16()} << 48) | (uint64_t{r.U16()} << 32) | (uint32_t{r.U16()} << 16) | r.U16();
    const uint8_t op = r.U8();
    it.op = op == 255 ? 0xFFFFFFFFu : op % 12u;
    const uint8_t f = r.U8();
    const bool explicit_cap = (f & 8) != 0;
    const size_t cap_byte = explicit_cap ? r.U8() : 0;
    const size_t in_len = (f & 64) != 0 ? r.U16() : r.U8();
    const size_t in2_len = r.U8(), in3_len = r.U8();
    const Item* prev = items.empty() ? nullptr : &items.back();
    const bool chain_in = (f & 1) != 0 && prev != nullptr && prev->it.out != nullptr;
    const bool chain_in2 = (f & 16) != 0 && prev != nullptr && prev->it.out != nullptr;
    // A chained input is read at the previous item's capacity; the batch
    // writes that output before this item runs. out_len is known only
    // afterwards, so the length is the capacity clipped to what is asked.
    const bool null_in = (f & 2) != 0;
    if (null_in) {
      it.in = nullptr;  // with a non-zero length: must be refused
      it.in_len = in_len == 0 ? 1 : in_len;
    } else if (chain_in) {
      it.in = prev->it.out;
      it.in_len = std::min(in_len, prev->cap);
    } else {
      item.in = Copy(r.Take(in_len));
      it.in = item.in->data();
      it.in_len = item.in->cap();
    }
    if (chain_in2) {
      it.in2 = prev->it.out;
      it.in2_len = std::min(in2_len, prev->cap);
    } else {
      item.in2 = Copy(r.Take(in2_len));
      it.in2 = item.in2->data();
      it.in2_len = item.in2->cap();
    }
    item.in3 = Copy(r.Take(in3_len));
    it.in3 = item.in3->data();
    it.in3_len = item.in3->cap();
    item.cap = explicit_cap ? cap_byte : it.in_len + 160;
    if ((f & 32) != 0 && !chain_in && !null_in && it.in_len > 0) {
      // Same pointer for in and out: in place where the format allows it.
      item.aliased = true;
      item.out = std::move(item.in);
      it.out = item.out->data();
      item.cap = it.in_len;
    } else if ((f & 4) == 0) {
      item.out = std::make_unique<HeapBuf>(item.cap);
      it.out = item.out->data();
    }
    it.out_cap = item.cap;
    it.status = 0xDEAD;
    it.out_len = 0xBEEF;
    items.push_back(std::move(item));
  }

  std::vector<kh_batch_item> batch;
  for (const Item& item : items) batch.push_back(item.it);
  size_t failed = 12345;
  size_t* failed_ptr = (flags & 1) != 0 ? nullptr : &failed;

  if ((flags & 4) != 0) {
    std::vector<kh_batch_item> too_many(KH_MAX_BATCH + 1);
    for (auto& it : too_many) it.status = 0xDEAD;
    FUZZ_CHECK(kh_batch(too_many.data(), too_many.size(), failed_ptr) == KH_E_TOO_LARGE);
    for (const auto& it : too_many) FUZZ_CHECK(it.status == 0xDEAD);
    return 0;
  }
  if ((flags & 2) != 0) {
    const kh_status s = kh_batch(nullptr, batch.size(), failed_ptr);
    FUZZ_CHECK(s == (batch.empty() ? KH_OK : KH_E_NULL_POINTER));
    return 0;
  }
  FUZZ_CHECK(kh_batch(batch.empty() ? nullptr : batch.data(), batch.size(), failed_ptr) == KH_OK);
  size_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].it.status = batch[i].status;
    items[i].it.out_len = batch[i].out_len;
    if (batch[i].status != KH_OK) ++count;
  }
  if (failed_ptr != nullptr) FUZZ_CHECK(failed == count);
  for (const Item& item : items) CheckItem(item);
  return 0;
}
