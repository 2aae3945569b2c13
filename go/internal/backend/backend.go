// Package backend is the seam between the public keyhold API and the place
// where the cryptography runs.
//
// The public package (keyhold.dev/keyhold) never calls C and never speaks a
// wire protocol itself: it calls a Backend. Today the only implementation is
// internal/native (cgo, the engine linked into the process). A later pure-Go
// client of the keyholdd daemon implements the same interface, so service code
// and the conformance suite do not change with the deployment mode.
//
// The interface mirrors the C ABI (include/keyhold/keyhold.h) one method per
// exported function, with Go slices in place of (pointer, length) pairs:
//
//   - Handles are the engine's opaque 64-bit handles; 0 is never valid.
//   - Every fallible method returns a Status with the kh_status numbers.
//   - An output is a caller slice out; the backend may write out[:len(out)]
//     (len(out) is the C out_cap) and returns the number of bytes written. On
//     StatusBufferTooSmall the returned count is the size needed and out is
//     untouched. On any other failure the count is 0.
//
// Implementations must be safe for concurrent use and must not retain any
// slice after the method returns.
package backend

import "context"

// Handle is an opaque engine object reference (slot + generation).
type Handle uint64

// Status is a kh_status number. The numbers are stable and never reused.
type Status uint32

// The kh_status values (include/keyhold/keyhold.h).
const (
	StatusOK              Status = 0
	StatusInvalidArgument Status = 1
	StatusNullPointer     Status = 2
	StatusBufferTooSmall  Status = 3
	StatusStaleHandle     Status = 4
	StatusWrongHandleType Status = 5
	StatusWrongPrimitive  Status = 6
	StatusUnsupported     Status = 7
	StatusAuthFailed      Status = 8
	StatusMalformed       Status = 9
	StatusUnknownKey      Status = 10
	StatusKeyDisabled     Status = 11
	StatusKeyDestroyed    Status = 12
	StatusTooLarge        Status = 13
	StatusLimitExceeded   Status = 14
	StatusPolicyDenied    Status = 15
	StatusNotExportable   Status = 16
	StatusSelfTestFailed  Status = 17
	StatusOutOfMemory     Status = 18
	StatusInternal        Status = 19
	StatusEngineClosed    Status = 20
	StatusIO              Status = 21
	StatusInsecureFile    Status = 22
	StatusKEKUnavailable  Status = 23
	StatusNotFound        Status = 24
)

// Go-only statuses: failures of the transport to a daemon, never returned
// by the engine. They are far above every kh_status so the two never meet.
const (
	// StatusUnavailable: the daemon could not be reached, or the connection
	// was lost before the answer arrived.
	StatusUnavailable Status = 0x10000
	// StatusDeadlineExceeded: the call's context deadline passed first.
	StatusDeadlineExceeded Status = 0x10001
	// StatusCanceled: the call's context was cancelled first.
	StatusCanceled Status = 0x10002
)

// ContextBackend is implemented by backends whose calls can be bound to a
// context (the daemon client). The in-process backend cannot interrupt a
// call once it is made, so it does not implement it.
type ContextBackend interface {
	WithContext(ctx context.Context) Backend
}

// ABIVersion is the KH_ABI_VERSION this binding was written for.
const ABIVersion = 1

// MaxBatch is KH_MAX_BATCH, the largest item count of one Batch call.
const MaxBatch = 4096

// MaxInputLen is KH_MAX_INPUT_LEN.
const MaxInputLen = uint64(1) << 32

// Metrics formats (kh_metrics_format).
const (
	MetricsJSON       uint32 = 1
	MetricsPrometheus uint32 = 2
)

// Keyset flags (KH_KEYSET_*).
const (
	KeysetRaw        uint32 = 0x1
	KeysetExportable uint32 = 0x2
)

// KEK kinds (kh_kek_kind).
const (
	KEKFile   uint32 = 1
	KEKEnv    uint32 = 2
	KEKPKCS11 uint32 = 3
)

// Public-key export formats (KH_PUBKEY_*).
const (
	PubKeyRaw uint32 = 1
	PubKeyDER uint32 = 2
)

// Batch operations (kh_op).
const (
	OpAEADEncrypt   uint32 = 1
	OpAEADDecrypt   uint32 = 2
	OpDAEADEncrypt  uint32 = 3
	OpDAEADDecrypt  uint32 = 4
	OpMACCompute    uint32 = 5
	OpMACVerify     uint32 = 6
	OpSigSign       uint32 = 7
	OpSigVerify     uint32 = 8
	OpAEADSealNonce uint32 = 9
	OpAEADOpenNonce uint32 = 10
)

// AlgSizes is kh_alg_sizes.
type AlgSizes struct {
	KeyLen       uint32
	NonceLen     uint32
	TagLen       uint32
	HeaderLen    uint32
	Overhead     uint32
	MaxOutputLen uint32
	PublicKeyLen uint32
}

// EngineStats is kh_engine_stats.
type EngineStats struct {
	LiveHandles       uint64
	SecureBytesUsed   uint64
	SecureBytesTotal  uint64
	SecureBytesLocked uint64
	MlockFailures     uint64
	SelfTestPassed    bool
}

// KeysetInfo is kh_keyset_info.
type KeysetInfo struct {
	Alg          uint32
	Flags        uint32
	PrimaryKeyID uint32
	KeyCount     uint32
}

// KeyInfo is kh_key_info.
type KeyInfo struct {
	KeyID     uint32
	Status    uint32
	IsPrimary bool
	UseCount  uint64
}

// KeysetFileInfo is kh_keyset_file_info.
type KeysetFileInfo struct {
	Version      uint32
	Alg          uint32
	Flags        uint32
	KEKKind      uint32
	PrimaryKeyID uint32
	KeyCount     uint32
	KeysetID     [16]byte
}

// KeyFileInfo is kh_key_file_info.
type KeyFileInfo struct {
	KeyID    uint32
	Status   uint32
	Created  uint64 // seconds since the Unix epoch
	UseCount uint64
}

// Streaming AEAD sizes (KH_STREAM_*, docs/spec/stream.md).
const (
	StreamHeaderLen      = 49
	StreamTagLen         = 16
	StreamSegmentMin     = 64
	StreamSegmentMax     = 1 << 24
	StreamSegmentDefault = 1 << 16
	StreamMaxSegments    = uint64(1) << 32
)

// StreamInfo is kh_stream_info.
type StreamInfo struct {
	Alg         uint32
	KeyID       uint32
	SegmentSize uint32
	HeaderLen   uint32
	TagLen      uint32
	Encrypting  bool
}

// BatchItem is one kh_batch_item. In, In2 and In3 are read; the backend
// writes into Out[:len(Out)] and sets Status and OutLen.
type BatchItem struct {
	Keyset Handle
	Op     uint32
	In     []byte
	In2    []byte
	In3    []byte
	Out    []byte
	Status Status
	OutLen int
}

// Backend is one way to reach a keyhold engine. See the package comment for
// the conventions every method follows.
type Backend interface {
	// Name identifies the backend ("native", later "remote").
	Name() string

	ABIVersion() uint32
	Version() string
	BuildInfo() string
	RuntimeInfo() string

	AlgSizes(alg uint32) (AlgSizes, Status)

	// EngineOpen returns, when the configuration is refused, the engine's
	// message naming the variable or key at fault (never a secret).
	EngineOpen() (Handle, Status, string)
	EngineClose(engine Handle) Status
	EngineStats(engine Handle) (EngineStats, Status)
	// EngineConfig is kh_engine_config_get (JSON).
	EngineConfig(engine Handle) ([]byte, Status)
	// EngineMetrics is kh_engine_metrics_get in format MetricsJSON or
	// MetricsPrometheus.
	EngineMetrics(engine Handle, format uint32) ([]byte, Status)

	KeysetGenerate(engine Handle, alg, flags uint32) (Handle, Status)
	KeysetImportRaw(engine Handle, alg uint32, key []byte) (Handle, Status)
	KeysetImportPublic(engine Handle, alg uint32, pub []byte) (Handle, Status)
	KeysetRotate(keyset Handle) (uint32, Status)
	KeysetSetPrimary(keyset Handle, keyID uint32) Status
	KeysetDisable(keyset Handle, keyID uint32) Status
	KeysetEnable(keyset Handle, keyID uint32) Status
	KeysetDestroyKey(keyset Handle, keyID uint32) Status
	KeysetInfo(keyset Handle) (KeysetInfo, Status)
	KeysetKeyInfo(keyset Handle, index uint32) (KeyInfo, Status)
	KeysetPublicKey(keyset Handle, keyID, format uint32, out []byte) (int, Status)
	HandleClose(h Handle) Status

	AEADEncrypt(keyset Handle, pt, aad, out []byte) (int, Status)
	AEADDecrypt(keyset Handle, ct, aad, out []byte) (int, Status)
	AEADSealNonce(keyset Handle, nonce, pt, aad, out []byte) (int, Status)
	AEADOpenNonce(keyset Handle, nonce, ct, aad, out []byte) (int, Status)

	DAEADEncrypt(keyset Handle, pt, aad, out []byte) (int, Status)
	DAEADDecrypt(keyset Handle, ct, aad, out []byte) (int, Status)

	MACCompute(keyset Handle, msg, out []byte) (int, Status)
	MACVerify(keyset Handle, msg, tag []byte) Status

	SigSign(keyset Handle, msg, out []byte) (int, Status)
	SigVerify(keyset Handle, msg, sig []byte) Status
	SigSignPlain(keyset Handle, msg, out []byte) (int, Status)
	SigSignDigest(keyset Handle, digest, out []byte) (int, Status)
	SigVerifyPlain(keyset Handle, keyID uint32, msg, sig []byte) Status

	KexAgree(keyset Handle, peer, out []byte) (int, Status)
	KDFDerive(keyset Handle, salt, info, out []byte) Status
	RandomBytes(out []byte) Status

	// Key-encryption keys and stored keysets. Specs and paths are passed as
	// they are; the engine parses and checks them.
	KEKOpen(engine Handle, spec string) (Handle, Status)
	KEKKind(kek Handle) (uint32, Status)
	KeysetSaveFile(keyset, kek Handle, path string) Status
	KeysetLoadFile(engine, kek Handle, path string) (Handle, Status)
	// KeysetFileInfo fills keys[:n] with the file's keys. If keys is too
	// short it returns StatusBufferTooSmall and n = the key count.
	KeysetFileInfo(path string, keys []KeyFileInfo) (info KeysetFileInfo, n int, st Status)
	KeysetExportWrapped(keyset, kek Handle, out []byte) (int, Status)
	KeysetImportWrapped(engine, kek Handle, blob []byte) (Handle, Status)

	// Batch runs every item in one crossing (in-process) or one frame
	// (daemon). The returned Status is the call's own (StatusOK when every
	// item ran); each item carries its own Status.
	Batch(items []BatchItem) (failed int, st Status)

	// Streaming AEAD (docs/spec/stream.md). A stream is a handle like a
	// keyset (closed with HandleClose); every call names its segment
	// index, so it carries over a socket as one request with no other
	// state. StreamEncryptBegin writes the header into header[:n].
	// StreamSeal and StreamOpen handle one or more consecutive segments
	// starting at first; last marks the call whose final segment ends the
	// stream.
	StreamEncryptBegin(keyset Handle, aad []byte, segmentSize uint32, header []byte) (stream Handle, n int, st Status)
	StreamDecryptBegin(keyset Handle, header, aad []byte) (Handle, Status)
	StreamInfo(stream Handle) (StreamInfo, Status)
	StreamSeal(stream Handle, first uint64, last bool, pt, out []byte) (int, Status)
	StreamOpen(stream Handle, first uint64, last bool, ct, out []byte) (int, Status)
}
