// docs/spec/protocol.md, section "Frames".
#include "wire/frame.h"

#include <string_view>

namespace keyhold::wire {

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t GetU64(const uint8_t* p) { return (uint64_t{GetU32(p)} << 32) | GetU32(p + 4); }

uint32_t ReadLengthPrefix(const uint8_t* p) { return GetU32(p); }

bool KnownOp(uint16_t op) { return std::string_view(OpName(op)) != "unknown"; }

const char* OpName(uint16_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kAeadEncrypt:
      return "aead.encrypt";
    case Op::kAeadDecrypt:
      return "aead.decrypt";
    case Op::kDaeadEncrypt:
      return "daead.encrypt";
    case Op::kDaeadDecrypt:
      return "daead.decrypt";
    case Op::kMacCompute:
      return "mac.compute";
    case Op::kMacVerify:
      return "mac.verify";
    case Op::kSigSign:
      return "sig.sign";
    case Op::kSigVerify:
      return "sig.verify";
    case Op::kAeadSealNonce:
      return "aead.seal_nonce";
    case Op::kAeadOpenNonce:
      return "aead.open_nonce";
    case Op::kSigSignPlain:
      return "sig.sign_plain";
    case Op::kSigSignDigest:
      return "sig.sign_digest";
    case Op::kSigVerifyPlain:
      return "sig.verify_plain";
    case Op::kKexAgree:
      return "kex.agree";
    case Op::kKdfDerive:
      return "kdf.derive";
    case Op::kRandomBytes:
      return "random";
    case Op::kHello:
      return "hello";
    case Op::kHealth:
      return "health";
    case Op::kVersion:
      return "version";
    case Op::kBuildInfo:
      return "build_info";
    case Op::kRuntimeInfo:
      return "runtime_info";
    case Op::kAlgSizes:
      return "alg_sizes";
    case Op::kMetrics:
      return "metrics";
    case Op::kEngineOpen:
      return "engine.open";
    case Op::kEngineClose:
      return "engine.close";
    case Op::kEngineStats:
      return "engine.stats";
    case Op::kEngineConfig:
      return "engine.config";
    case Op::kEngineMetrics:
      return "engine.metrics";
    case Op::kKeysetGenerate:
      return "keyset.generate";
    case Op::kKeysetImportRaw:
      return "keyset.import_raw";
    case Op::kKeysetImportPublic:
      return "keyset.import_public";
    case Op::kKeysetRotate:
      return "keyset.rotate";
    case Op::kKeysetSetPrimary:
      return "keyset.set_primary";
    case Op::kKeysetDisable:
      return "keyset.disable";
    case Op::kKeysetEnable:
      return "keyset.enable";
    case Op::kKeysetDestroyKey:
      return "keyset.destroy_key";
    case Op::kKeysetInfo:
      return "keyset.info";
    case Op::kKeysetKeyInfo:
      return "keyset.key_info";
    case Op::kKeysetPublicKey:
      return "keyset.public_key";
    case Op::kHandleClose:
      return "handle.close";
    case Op::kKeysetAttach:
      return "keyset.attach";
    case Op::kBatch:
      return "batch";
    case Op::kStreamEncryptBegin:
      return "stream.encrypt_begin";
    case Op::kStreamDecryptBegin:
      return "stream.decrypt_begin";
    case Op::kStreamInfo:
      return "stream.info";
    case Op::kStreamSeal:
      return "stream.seal";
    case Op::kStreamOpen:
      return "stream.open";
  }
  return "unknown";
}

Status DecodeHeader(ByteView body, FrameHeader* out) {
  if (body.size() < kFrameHeaderLen) return KH_E_MALFORMED;
  const uint8_t* p = body.data();
  FrameHeader h;
  h.version = p[0];
  h.kind = p[1];
  h.op = GetU16(p + 2);
  h.options = GetU32(p + 4);
  h.request_id = GetU64(p + 8);
  h.status = GetU32(p + 16);
  h.count = GetU32(p + 20);
  if (h.version != kProtocolVersion) return KH_E_UNSUPPORTED;
  if (h.kind != kKindRequest && h.kind != kKindResponse) return KH_E_MALFORMED;
  if (h.count > kMaxItems) return KH_E_MALFORMED;
  *out = h;
  return OkStatus();
}

namespace {

// Reader walks a body with every length checked before use.
class Reader {
 public:
  explicit Reader(ByteView b) : p_(b.data()), left_(b.size()) {}
  bool Take(size_t n, const uint8_t** out) {
    if (n > left_) return false;
    *out = p_;
    p_ += n;
    left_ -= n;
    return true;
  }
  bool View(uint32_t n, ByteView* out) {
    const uint8_t* q = nullptr;
    if (!Take(n, &q)) return false;
    *out = n == 0 ? ByteView() : ByteView(q, n);
    return true;
  }
  size_t left() const { return left_; }

 private:
  const uint8_t* p_;
  size_t left_;
};

}  // namespace

Status DecodeRequest(ByteView body, FrameHeader* header, std::vector<RequestItem>* items) {
  FrameHeader h;
  KH_RETURN_IF_ERROR(DecodeHeader(body, &h));
  if (h.kind != kKindRequest) return KH_E_MALFORMED;
  if (h.options != 0 || h.status != 0) return KH_E_UNSUPPORTED;
  if (!KnownOp(h.op)) return KH_E_UNSUPPORTED;
  const bool batch = h.op == static_cast<uint16_t>(Op::kBatch);
  if (batch ? h.count == 0 : h.count != 1) return KH_E_MALFORMED;
  // Every item takes at least kRequestItemFixedLen bytes: refuse a count the
  // body cannot hold before reserving anything for it.
  if (h.count > (body.size() - kFrameHeaderLen) / kRequestItemFixedLen) return KH_E_MALFORMED;
  items->clear();
  items->reserve(h.count);
  Reader r(body.subspan(kFrameHeaderLen));
  for (uint32_t i = 0; i < h.count; ++i) {
    const uint8_t* f = nullptr;
    if (!r.Take(kRequestItemFixedLen, &f)) return KH_E_MALFORMED;
    RequestItem it;
    it.op = GetU16(f);
    it.flags = GetU16(f + 2);
    it.arg = GetU32(f + 4);
    it.handle = GetU64(f + 8);
    it.arg2 = GetU32(f + 16);
    it.out_cap = GetU32(f + 20);
    if (it.flags != 0) return KH_E_UNSUPPORTED;
    // A batch item may name any op: as with kh_batch, an op that cannot be
    // batched is that item's error (KH_E_INVALID_ARGUMENT), not the frame's.
    if (!batch && it.op != h.op) return KH_E_UNSUPPORTED;
    if (it.out_cap > kMaxFrameLen) return KH_E_TOO_LARGE;
    if (!r.View(GetU32(f + 24), &it.in) || !r.View(GetU32(f + 28), &it.in2) ||
        !r.View(GetU32(f + 32), &it.in3)) {
      return KH_E_MALFORMED;
    }
    items->push_back(it);
  }
  if (r.left() != 0) return KH_E_MALFORMED;
  *header = h;
  return OkStatus();
}

Status DecodeResponse(ByteView body, FrameHeader* header, std::vector<ResponseItem>* items) {
  FrameHeader h;
  KH_RETURN_IF_ERROR(DecodeHeader(body, &h));
  if (h.kind != kKindResponse || h.options != 0) return KH_E_MALFORMED;
  if (h.count > (body.size() - kFrameHeaderLen) / kResponseItemFixedLen) return KH_E_MALFORMED;
  items->clear();
  items->reserve(h.count);
  Reader r(body.subspan(kFrameHeaderLen));
  for (uint32_t i = 0; i < h.count; ++i) {
    const uint8_t* f = nullptr;
    if (!r.Take(kResponseItemFixedLen, &f)) return KH_E_MALFORMED;
    ResponseItem it;
    it.status = GetU32(f);
    it.value = GetU64(f + 4);
    if (!r.View(GetU32(f + 12), &it.out)) return KH_E_MALFORMED;
    items->push_back(it);
  }
  if (r.left() != 0) return KH_E_MALFORMED;
  *header = h;
  return OkStatus();
}

namespace {

size_t PutHeader(const FrameHeader& h, std::vector<uint8_t>* out) {
  size_t start = out->size();
  out->resize(start + kLengthPrefixLen + kFrameHeaderLen);
  uint8_t* p = out->data() + start + kLengthPrefixLen;
  p[0] = h.version;
  p[1] = h.kind;
  PutU16(p + 2, h.op);
  PutU32(p + 4, h.options);
  PutU64(p + 8, h.request_id);
  PutU32(p + 16, h.status);
  PutU32(p + 20, h.count);
  return start;
}

void Append(ByteView b, std::vector<uint8_t>* out) { out->insert(out->end(), b.begin(), b.end()); }

void FinishLength(size_t start, std::vector<uint8_t>* out) {
  PutU32(out->data() + start, static_cast<uint32_t>(out->size() - start - kLengthPrefixLen));
}

}  // namespace

void EncodeRequest(const FrameHeader& h, const std::vector<RequestItem>& items, std::vector<uint8_t>* out) {
  size_t start = PutHeader(h, out);
  for (const RequestItem& it : items) {
    size_t at = out->size();
    out->resize(at + kRequestItemFixedLen);
    uint8_t* f = out->data() + at;
    PutU16(f, it.op);
    PutU16(f + 2, it.flags);
    PutU32(f + 4, it.arg);
    PutU64(f + 8, it.handle);
    PutU32(f + 16, it.arg2);
    PutU32(f + 20, it.out_cap);
    PutU32(f + 24, static_cast<uint32_t>(it.in.size()));
    PutU32(f + 28, static_cast<uint32_t>(it.in2.size()));
    PutU32(f + 32, static_cast<uint32_t>(it.in3.size()));
    Append(it.in, out);
    Append(it.in2, out);
    Append(it.in3, out);
  }
  FinishLength(start, out);
}

void EncodeResponse(const FrameHeader& h, const std::vector<ResponseItem>& items, std::vector<uint8_t>* out) {
  size_t start = PutHeader(h, out);
  for (const ResponseItem& it : items) {
    size_t at = out->size();
    out->resize(at + kResponseItemFixedLen);
    uint8_t* f = out->data() + at;
    PutU32(f, it.status);
    PutU64(f + 4, it.value);
    PutU32(f + 12, static_cast<uint32_t>(it.out.size()));
    Append(it.out, out);
  }
  FinishLength(start, out);
}

}  // namespace keyhold::wire
