package remote

import "encoding/binary"

// The frame envelope of docs/spec/protocol.md. The daemon's decoder is
// src/wire/frame.cc; this file is its Go mirror for the client side.

const (
	protocolVersion = 1
	kindRequest     = 1
	kindResponse    = 2

	lengthPrefixLen   = 4
	frameHeaderLen    = 24
	requestItemFixed  = 36
	responseItemFixed = 16

	// maxFrameLen is kMaxFrameLen: the largest frame body either side
	// accepts.
	maxFrameLen = 16<<20 + 1<<16
	// maxPayload bounds one request's data so that its frame (with the
	// envelope, one item's header, and a 16-byte tag) fits.
	maxPayload = maxFrameLen - 4096
)

// Wire operation ids (src/wire/frame.h, Op).
const (
	opSigSignPlain   = 11
	opSigSignDigest  = 12
	opSigVerifyPlain = 13
	opKexAgree       = 14
	opKDFDerive      = 15
	opRandomBytes    = 16

	opHello       = 32
	opHealth      = 33
	opVersion     = 34
	opBuildInfo   = 35
	opRuntimeInfo = 36
	opAlgSizes    = 37
	opMetrics     = 38

	opEngineOpen    = 48
	opEngineClose   = 49
	opEngineStats   = 50
	opEngineConfig  = 51
	opEngineMetrics = 52

	opKeysetGenerate     = 64
	opKeysetImportRaw    = 65
	opKeysetImportPublic = 66
	opKeysetRotate       = 67
	opKeysetSetPrimary   = 68
	opKeysetDisable      = 69
	opKeysetEnable       = 70
	opKeysetDestroyKey   = 71
	opKeysetInfo         = 72
	opKeysetKeyInfo      = 73
	opKeysetPublicKey    = 74
	opHandleClose        = 75
	opKeysetAttach       = 76

	opBatch = 80

	opStreamEncryptBegin = 96
	opStreamDecryptBegin = 97
	opStreamInfo         = 98
	opStreamSeal         = 99
	opStreamOpen         = 100
)

// item is one request item.
type item struct {
	op           uint16
	handle       uint64
	arg, arg2    uint32
	outCap       int
	in, in2, in3 []byte
	// index, when hasIndex, is sent as in3: 8 bytes, big-endian (the
	// first segment of a stream call), without a slice to carry it.
	index    uint64
	hasIndex bool
}

func (it *item) wireLen() int {
	return requestItemFixed + len(it.in) + len(it.in2) + len(it.in3) + 8
}

// appendHeader appends the length prefix (filled by finish) and header.
func appendHeader(b []byte, op uint16, id uint64, count int) []byte {
	var h [lengthPrefixLen + frameHeaderLen]byte
	h[4] = protocolVersion
	h[5] = kindRequest
	binary.BigEndian.PutUint16(h[6:], op)
	binary.BigEndian.PutUint64(h[12:], id)
	binary.BigEndian.PutUint32(h[24:], uint32(count))
	return append(b, h[:]...)
}

func appendItem(b []byte, it *item) []byte {
	var f [requestItemFixed]byte
	binary.BigEndian.PutUint16(f[0:], it.op)
	binary.BigEndian.PutUint32(f[4:], it.arg)
	binary.BigEndian.PutUint64(f[8:], it.handle)
	binary.BigEndian.PutUint32(f[16:], it.arg2)
	binary.BigEndian.PutUint32(f[20:], uint32(it.outCap))
	binary.BigEndian.PutUint32(f[24:], uint32(len(it.in)))
	binary.BigEndian.PutUint32(f[28:], uint32(len(it.in2)))
	in3 := len(it.in3)
	if it.hasIndex {
		in3 = 8
	}
	binary.BigEndian.PutUint32(f[32:], uint32(in3))
	b = append(b, f[:]...)
	b = append(b, it.in...)
	b = append(b, it.in2...)
	if it.hasIndex {
		return binary.BigEndian.AppendUint64(b, it.index)
	}
	return append(b, it.in3...)
}

// finish writes the length prefix of the frame that starts at start.
func finish(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-lengthPrefixLen))
}

// respItem is one decoded response item; out aliases the response buffer.
type respItem struct {
	status uint32
	value  uint64
	out    []byte
}

// respHeader is the decoded response header.
type respHeader struct {
	op     uint16
	id     uint64
	status uint32
	count  uint32
}

// parseRespHeader checks the fixed fields of a response body.
func parseRespHeader(body []byte) (respHeader, bool) {
	if len(body) < frameHeaderLen || body[0] != protocolVersion || body[1] != kindResponse {
		return respHeader{}, false
	}
	h := respHeader{
		op:     binary.BigEndian.Uint16(body[2:]),
		id:     binary.BigEndian.Uint64(body[8:]),
		status: binary.BigEndian.Uint32(body[16:]),
		count:  binary.BigEndian.Uint32(body[20:]),
	}
	return h, binary.BigEndian.Uint32(body[4:]) == 0
}

// nextItem decodes the response item at the front of b and returns the
// rest; ok is false if b is too short.
func nextItem(b []byte) (it respItem, rest []byte, ok bool) {
	if len(b) < responseItemFixed {
		return it, nil, false
	}
	it.status = binary.BigEndian.Uint32(b)
	it.value = binary.BigEndian.Uint64(b[4:])
	n := binary.BigEndian.Uint32(b[12:])
	b = b[responseItemFixed:]
	if uint64(n) > uint64(len(b)) {
		return it, nil, false
	}
	it.out = b[:n:n]
	return it, b[n:], true
}
