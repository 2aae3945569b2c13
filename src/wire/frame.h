// The keyholdd frame envelope (docs/spec/protocol.md): how requests and
// responses travel over the daemon's Unix socket.
//
// A frame is a 4-byte big-endian length followed by that many bytes: a
// 24-byte header and `count` items. Requests and responses share the
// header; items differ. A request item is the wire form of a
// kh_batch_item (op, handle, inputs, output capacity) plus two integer
// arguments for the calls that take them; a response item is (status,
// value, output). One decoder (DecodeRequest / DecodeResponse) serves the
// daemon, the tests and the fuzz target; the pure-Go client implements the
// same spec.
//
// Decoding is zero-copy: a decoded item's inputs are views into the frame
// buffer, valid while it lives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace keyhold::wire {

inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr uint8_t kKindRequest = 1;
inline constexpr uint8_t kKindResponse = 2;

inline constexpr size_t kLengthPrefixLen = 4;
inline constexpr size_t kFrameHeaderLen = 24;
inline constexpr size_t kRequestItemFixedLen = 36;   // before the three inputs
inline constexpr size_t kResponseItemFixedLen = 16;  // before the output

// kMaxFrameLen: the largest frame body (after the length prefix) either
// side accepts: 16 MiB of data plus room for the envelope. Larger inputs
// use streaming (issue 6) or several calls.
inline constexpr uint32_t kMaxFrameLen = (16u << 20) + (1u << 16);
// kMaxItems: KH_MAX_BATCH, the largest item count of one frame.
inline constexpr uint32_t kMaxItems = KH_MAX_BATCH;

// Request operation ids (the frame's op, and each item's op). 1..10 are
// kh_op (batchable); the rest are the other calls of the C ABI plus the
// daemon's own (hello, health, attach, metrics).
enum class Op : uint16_t {
  kAeadEncrypt = 1,
  kAeadDecrypt = 2,
  kDaeadEncrypt = 3,
  kDaeadDecrypt = 4,
  kMacCompute = 5,
  kMacVerify = 6,
  kSigSign = 7,
  kSigVerify = 8,
  kAeadSealNonce = 9,
  kAeadOpenNonce = 10,
  kSigSignPlain = 11,
  kSigSignDigest = 12,
  kSigVerifyPlain = 13,
  kKexAgree = 14,
  kKdfDerive = 15,
  kRandomBytes = 16,

  kHello = 32,
  kHealth = 33,
  kVersion = 34,
  kBuildInfo = 35,
  kRuntimeInfo = 36,
  kAlgSizes = 37,
  kMetrics = 38,

  kEngineOpen = 48,
  kEngineClose = 49,
  kEngineStats = 50,
  kEngineConfig = 51,
  kEngineMetrics = 52,

  kKeysetGenerate = 64,
  kKeysetImportRaw = 65,
  kKeysetImportPublic = 66,
  kKeysetRotate = 67,
  kKeysetSetPrimary = 68,
  kKeysetDisable = 69,
  kKeysetEnable = 70,
  kKeysetDestroyKey = 71,
  kKeysetInfo = 72,
  kKeysetKeyInfo = 73,
  kKeysetPublicKey = 74,
  kHandleClose = 75,
  kKeysetAttach = 76,

  kBatch = 80,

  kStreamEncryptBegin = 96,
  kStreamDecryptBegin = 97,
  kStreamInfo = 98,
  kStreamSeal = 99,
  kStreamOpen = 100,
};

// IsBatchable: ops a kBatch frame may carry (the kh_op values).
inline bool IsBatchable(uint16_t op) { return op >= 1 && op <= 10; }
// KnownOp: op is one of the values above.
bool KnownOp(uint16_t op);
const char* OpName(uint16_t op);

struct FrameHeader {
  uint8_t version = kProtocolVersion;
  uint8_t kind = kKindRequest;
  uint16_t op = 0;
  uint32_t options = 0;  // request: reserved, 0; response: reserved, 0
  uint64_t request_id = 0;
  uint32_t status = KH_OK;  // response: the frame's own kh_status
  uint32_t count = 0;       // items that follow
};

struct RequestItem {
  uint16_t op = 0;
  uint16_t flags = 0;  // reserved, 0
  uint64_t handle = 0;
  uint32_t arg = 0;
  uint32_t arg2 = 0;
  uint32_t out_cap = 0;
  ByteView in, in2, in3;
};

struct ResponseItem {
  uint32_t status = KH_OK;
  uint64_t value = 0;
  ByteView out;
};

// ReadLengthPrefix: the body length announced by a 4-byte prefix.
uint32_t ReadLengthPrefix(const uint8_t* p);

// DecodeHeader parses the 24 header bytes at the start of body. It checks
// only the fields every frame has: KH_E_UNSUPPORTED for another version,
// KH_E_MALFORMED for a short body, an unknown kind or a count above
// kMaxItems.
Status DecodeHeader(ByteView body, FrameHeader* out);

// DecodeRequest parses a whole request body (the bytes after the length
// prefix): the header, then exactly header.count items and nothing after
// them. Each item's lengths are checked against the remaining bytes before
// any view is formed. KH_E_MALFORMED for any inconsistency, KH_E_UNSUPPORTED
// for an unknown frame op, another version or a reserved field that is not
// 0. A kBatch frame carries 1..kMaxItems items (an item's op is checked when
// it runs, as kh_batch does); any other frame exactly one item whose op
// equals the frame's.
Status DecodeRequest(ByteView body, FrameHeader* header, std::vector<RequestItem>* items);

// DecodeResponse parses a response body the same way (used by the tests,
// the fuzz target and C clients).
Status DecodeResponse(ByteView body, FrameHeader* header, std::vector<ResponseItem>* items);

// Encoders. They append to out, length prefix included.
void EncodeRequest(const FrameHeader& h, const std::vector<RequestItem>& items, std::vector<uint8_t>* out);
void EncodeResponse(const FrameHeader& h, const std::vector<ResponseItem>& items, std::vector<uint8_t>* out);

// Big-endian helpers shared with the daemon.
void PutU16(uint8_t* p, uint16_t v);
void PutU32(uint8_t* p, uint32_t v);
void PutU64(uint8_t* p, uint64_t v);
uint16_t GetU16(const uint8_t* p);
uint32_t GetU32(const uint8_t* p);
uint64_t GetU64(const uint8_t* p);

}  // namespace keyhold::wire
