package remote

import (
	"encoding/binary"

	"keyhold.dev/keyhold/internal/backend"
)

// Streaming AEAD over the socket: every call names its segment index, so
// each is one request with no state in the connection (docs/spec/protocol.md,
// ops 96-100). The stream handle belongs to the caller's uid.

func (v view) StreamEncryptBegin(keyset backend.Handle, aad []byte, segmentSize uint32, header []byte) (backend.Handle, int, backend.Status) {
	val, n, st := v.call(&item{op: opStreamEncryptBegin, handle: uint64(keyset), arg: segmentSize, in: aad, outCap: len(header)}, header)
	if st != backend.StatusOK {
		return 0, n, st
	}
	return backend.Handle(val), n, st
}

func (v view) StreamDecryptBegin(keyset backend.Handle, header, aad []byte) (backend.Handle, backend.Status) {
	val, _, st := v.call(&item{op: opStreamDecryptBegin, handle: uint64(keyset), in: header, in2: aad}, nil)
	return backend.Handle(val), st
}

func (v view) StreamInfo(stream backend.Handle) (backend.StreamInfo, backend.Status) {
	var b [24]byte
	_, _, st := v.call(&item{op: opStreamInfo, handle: uint64(stream), outCap: len(b)}, b[:])
	if st != backend.StatusOK {
		return backend.StreamInfo{}, st
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }
	return backend.StreamInfo{Alg: u(0), KeyID: u(1), SegmentSize: u(2), HeaderLen: u(3), TagLen: u(4),
		Encrypting: u(5) == 1}, st
}

func (v view) streamCall(op uint16, stream backend.Handle, first uint64, last bool, in, out []byte) (int, backend.Status) {
	var l uint32
	if last {
		l = 1
	}
	_, n, st := v.call(&item{op: op, handle: uint64(stream), arg: l, in: in, index: first, hasIndex: true, outCap: len(out)}, out)
	return n, st
}

func (v view) StreamSeal(stream backend.Handle, first uint64, last bool, pt, out []byte) (int, backend.Status) {
	return v.streamCall(opStreamSeal, stream, first, last, pt, out)
}

func (v view) StreamOpen(stream backend.Handle, first uint64, last bool, ct, out []byte) (int, backend.Status) {
	return v.streamCall(opStreamOpen, stream, first, last, ct, out)
}
