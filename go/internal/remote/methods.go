package remote

import (
	"encoding/binary"
	"strings"

	"keyhold.dev/keyhold/internal/backend"
)

// The backend.Backend methods: each is one item of the wire op that maps
// to the C ABI function of the same name (docs/spec/protocol.md, "Ops").

var _ backend.Backend = view{}
var _ backend.ContextBackend = view{}

func (v view) Name() string       { return "remote" }
func (v view) ABIVersion() uint32 { return v.cl.info.abi }
func (v view) Version() string    { return v.cl.info.version }

func (v view) text(op uint16) string {
	buf := make([]byte, 64<<10)
	_, n, st := v.call(&item{op: op, outCap: len(buf)}, buf)
	if st != backend.StatusOK {
		return ""
	}
	return string(buf[:n])
}

func (v view) BuildInfo() string   { return v.text(opBuildInfo) }
func (v view) RuntimeInfo() string { return v.text(opRuntimeInfo) }

// Metrics returns the daemon's metrics in the Prometheus text format.
func (v view) Metrics() (string, backend.Status) {
	buf := make([]byte, 1<<20)
	_, n, st := v.call(&item{op: opMetrics, outCap: len(buf)}, buf)
	return string(buf[:n]), st
}

// Health reports whether the daemon is serving ("ready").
func (v view) Health() (string, backend.Status) {
	var buf [64]byte
	_, n, st := v.call(&item{op: opHealth, outCap: len(buf)}, buf[:])
	return string(buf[:n]), st
}

func (v view) AlgSizes(alg uint32) (backend.AlgSizes, backend.Status) {
	if z, ok := v.cl.sizes.Load(alg); ok {
		return z.(backend.AlgSizes), backend.StatusOK
	}
	var b [28]byte
	_, _, st := v.call(&item{op: opAlgSizes, arg: alg, outCap: len(b)}, b[:])
	if st != backend.StatusOK {
		return backend.AlgSizes{}, st
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }
	z := backend.AlgSizes{KeyLen: u(0), NonceLen: u(1), TagLen: u(2), HeaderLen: u(3), Overhead: u(4),
		MaxOutputLen: u(5), PublicKeyLen: u(6)}
	v.cl.sizes.Store(alg, z)
	return z, st
}

// EngineOpen: the daemon's engine was configured when it started; a
// configuration error is the daemon's log's, so there is no detail here.
func (v view) EngineOpen() (backend.Handle, backend.Status, string) {
	val, _, st := v.call(&item{op: opEngineOpen}, nil)
	return backend.Handle(val), st, ""
}

// engineText runs an op whose output is text of unknown size: the size
// needed comes back with StatusBufferTooSmall.
func (v view) engineText(op uint16, engine backend.Handle, arg uint32) ([]byte, backend.Status) {
	buf := make([]byte, 64<<10)
	for {
		val, n, st := v.call(&item{op: op, handle: uint64(engine), arg: arg, outCap: len(buf)}, buf)
		if st == backend.StatusBufferTooSmall && val > uint64(len(buf)) && val <= maxPayload {
			buf = make([]byte, val)
			continue
		}
		if st != backend.StatusOK {
			return nil, st
		}
		return buf[:n], st
	}
}

// EngineConfig is the daemon engine's effective configuration.
func (v view) EngineConfig(engine backend.Handle) ([]byte, backend.Status) {
	return v.engineText(opEngineConfig, engine, 0)
}

// EngineMetrics is the daemon engine's metrics snapshot (operations of
// the whole daemon; this engine's keys).
func (v view) EngineMetrics(engine backend.Handle, format uint32) ([]byte, backend.Status) {
	return v.engineText(opEngineMetrics, engine, format)
}

func (v view) EngineClose(engine backend.Handle) backend.Status {
	_, _, st := v.call(&item{op: opEngineClose, handle: uint64(engine)}, nil)
	return st
}

func (v view) EngineStats(engine backend.Handle) (backend.EngineStats, backend.Status) {
	var b [44]byte
	_, _, st := v.call(&item{op: opEngineStats, handle: uint64(engine), outCap: len(b)}, b[:])
	if st != backend.StatusOK {
		return backend.EngineStats{}, st
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[8*i:]) }
	return backend.EngineStats{LiveHandles: u(0), SecureBytesUsed: u(1), SecureBytesTotal: u(2),
		SecureBytesLocked: u(3), MlockFailures: u(4), SelfTestPassed: binary.BigEndian.Uint32(b[40:]) == 1}, st
}

func (v view) handleOp(op uint16, h backend.Handle, arg, arg2 uint32, in []byte) (uint64, backend.Status) {
	val, _, st := v.call(&item{op: op, handle: uint64(h), arg: arg, arg2: arg2, in: in}, nil)
	return val, st
}

func (v view) KeysetGenerate(engine backend.Handle, alg, flags uint32) (backend.Handle, backend.Status) {
	val, st := v.handleOp(opKeysetGenerate, engine, alg, flags, nil)
	return backend.Handle(val), st
}

func (v view) KeysetImportRaw(engine backend.Handle, alg uint32, key []byte) (backend.Handle, backend.Status) {
	val, st := v.handleOp(opKeysetImportRaw, engine, alg, 0, key)
	return backend.Handle(val), st
}

func (v view) KeysetImportPublic(engine backend.Handle, alg uint32, pub []byte) (backend.Handle, backend.Status) {
	val, st := v.handleOp(opKeysetImportPublic, engine, alg, 0, pub)
	return backend.Handle(val), st
}

func (v view) KeysetRotate(keyset backend.Handle) (uint32, backend.Status) {
	val, st := v.handleOp(opKeysetRotate, keyset, 0, 0, nil)
	return uint32(val), st
}

func (v view) KeysetSetPrimary(keyset backend.Handle, keyID uint32) backend.Status {
	_, st := v.handleOp(opKeysetSetPrimary, keyset, keyID, 0, nil)
	return st
}

func (v view) KeysetDisable(keyset backend.Handle, keyID uint32) backend.Status {
	_, st := v.handleOp(opKeysetDisable, keyset, keyID, 0, nil)
	return st
}

func (v view) KeysetEnable(keyset backend.Handle, keyID uint32) backend.Status {
	_, st := v.handleOp(opKeysetEnable, keyset, keyID, 0, nil)
	return st
}

func (v view) KeysetDestroyKey(keyset backend.Handle, keyID uint32) backend.Status {
	_, st := v.handleOp(opKeysetDestroyKey, keyset, keyID, 0, nil)
	return st
}

func (v view) KeysetInfo(keyset backend.Handle) (backend.KeysetInfo, backend.Status) {
	var b [16]byte
	_, _, st := v.call(&item{op: opKeysetInfo, handle: uint64(keyset), outCap: len(b)}, b[:])
	if st != backend.StatusOK {
		return backend.KeysetInfo{}, st
	}
	return backend.KeysetInfo{Alg: binary.BigEndian.Uint32(b[0:]), Flags: binary.BigEndian.Uint32(b[4:]),
		PrimaryKeyID: binary.BigEndian.Uint32(b[8:]), KeyCount: binary.BigEndian.Uint32(b[12:])}, st
}

func (v view) KeysetKeyInfo(keyset backend.Handle, index uint32) (backend.KeyInfo, backend.Status) {
	var b [20]byte
	_, _, st := v.call(&item{op: opKeysetKeyInfo, handle: uint64(keyset), arg: index, outCap: len(b)}, b[:])
	if st != backend.StatusOK {
		return backend.KeyInfo{}, st
	}
	return backend.KeyInfo{KeyID: binary.BigEndian.Uint32(b[0:]), Status: binary.BigEndian.Uint32(b[4:]),
		IsPrimary: binary.BigEndian.Uint32(b[8:]) != 0, UseCount: binary.BigEndian.Uint64(b[12:])}, st
}

func (v view) KeysetPublicKey(keyset backend.Handle, keyID, format uint32, out []byte) (int, backend.Status) {
	_, n, st := v.call(&item{op: opKeysetPublicKey, handle: uint64(keyset), arg: keyID, arg2: format, outCap: len(out)}, out)
	return n, st
}

func (v view) HandleClose(h backend.Handle) backend.Status {
	if uint64(h)&localKEKTag != 0 && uint64(h)>>63 == 0 {
		if _, ok := v.cl.keks.LoadAndDelete(h); ok {
			return backend.StatusOK
		}
		return backend.StatusStaleHandle
	}
	_, st := v.handleOp(opHandleClose, h, 0, 0, nil)
	return st
}

// data runs a one-item data operation (in, in2, in3 -> out).
func (v view) data(op uint16, h backend.Handle, arg uint32, in, in2, in3, out []byte) (int, backend.Status) {
	_, n, st := v.call(&item{op: op, handle: uint64(h), arg: arg, in: in, in2: in2, in3: in3, outCap: len(out)}, out)
	return n, st
}

func (v view) AEADEncrypt(ks backend.Handle, pt, aad, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpAEADEncrypt), ks, 0, pt, aad, nil, out)
}

func (v view) AEADDecrypt(ks backend.Handle, ct, aad, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpAEADDecrypt), ks, 0, ct, aad, nil, out)
}

func (v view) AEADSealNonce(ks backend.Handle, nonce, pt, aad, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpAEADSealNonce), ks, 0, pt, aad, nonce, out)
}

func (v view) AEADOpenNonce(ks backend.Handle, nonce, ct, aad, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpAEADOpenNonce), ks, 0, ct, aad, nonce, out)
}

func (v view) DAEADEncrypt(ks backend.Handle, pt, aad, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpDAEADEncrypt), ks, 0, pt, aad, nil, out)
}

func (v view) DAEADDecrypt(ks backend.Handle, ct, aad, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpDAEADDecrypt), ks, 0, ct, aad, nil, out)
}

func (v view) MACCompute(ks backend.Handle, msg, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpMACCompute), ks, 0, msg, nil, nil, out)
}

func (v view) MACVerify(ks backend.Handle, msg, tag []byte) backend.Status {
	_, st := v.data(uint16(backend.OpMACVerify), ks, 0, msg, tag, nil, nil)
	return st
}

func (v view) SigSign(ks backend.Handle, msg, out []byte) (int, backend.Status) {
	return v.data(uint16(backend.OpSigSign), ks, 0, msg, nil, nil, out)
}

func (v view) SigVerify(ks backend.Handle, msg, sig []byte) backend.Status {
	_, st := v.data(uint16(backend.OpSigVerify), ks, 0, msg, sig, nil, nil)
	return st
}

func (v view) SigSignPlain(ks backend.Handle, msg, out []byte) (int, backend.Status) {
	return v.data(opSigSignPlain, ks, 0, msg, nil, nil, out)
}

func (v view) SigSignDigest(ks backend.Handle, digest, out []byte) (int, backend.Status) {
	return v.data(opSigSignDigest, ks, 0, digest, nil, nil, out)
}

func (v view) SigVerifyPlain(ks backend.Handle, keyID uint32, msg, sig []byte) backend.Status {
	_, st := v.data(opSigVerifyPlain, ks, keyID, msg, sig, nil, nil)
	return st
}

func (v view) KexAgree(ks backend.Handle, peer, out []byte) (int, backend.Status) {
	return v.data(opKexAgree, ks, 0, peer, nil, nil, out)
}

func (v view) KDFDerive(ks backend.Handle, salt, info, out []byte) backend.Status {
	_, st := v.data(opKDFDerive, ks, 0, salt, info, nil, out)
	return st
}

func (v view) RandomBytes(out []byte) backend.Status {
	for len(out) > 0 {
		n := min(len(out), 1<<20)
		if _, st := v.data(opRandomBytes, 0, 0, nil, nil, nil, out[:n]); st != backend.StatusOK {
			return st
		}
		out = out[n:]
	}
	return backend.StatusOK
}

// KEKs stay with the daemon: it opened its own at start and loads only
// the keysets it was given. A KEK handle of the remote backend is a local
// token that records the spec's kind, so code written for the in-process
// engine (open a KEK, load a keyset file with it) runs unchanged.
const localKEKTag = uint64(1) << 62

func (v view) KEKOpen(engine backend.Handle, spec string) (backend.Handle, backend.Status) {
	kind := backend.KEKFile
	switch {
	case strings.HasPrefix(spec, "env:"):
		kind = backend.KEKEnv
	case strings.HasPrefix(spec, "pkcs11:"):
		kind = backend.KEKPKCS11
	case spec == "default", strings.HasPrefix(spec, "file:"):
	default:
		return 0, backend.StatusInvalidArgument
	}
	h := backend.Handle(localKEKTag | v.cl.nextKEK.Add(1))
	v.cl.keks.Store(h, kind)
	return h, backend.StatusOK
}

func (v view) KEKKind(kek backend.Handle) (uint32, backend.Status) {
	k, ok := v.cl.keks.Load(kek)
	if !ok {
		return 0, backend.StatusStaleHandle
	}
	return k.(uint32), backend.StatusOK
}

// KeysetLoadFile reads the file's public metadata here (no secret) and
// asks the daemon for the keyset with that id; the daemon must have loaded
// the same keyset (keyholdd --keyset).
func (v view) KeysetLoadFile(engine, kek backend.Handle, path string) (backend.Handle, backend.Status) {
	if _, ok := v.cl.keks.Load(kek); !ok {
		return 0, backend.StatusStaleHandle
	}
	info, _, st := readKeysetFileInfo(path, nil)
	if st != backend.StatusOK && st != backend.StatusBufferTooSmall {
		return 0, st
	}
	val, _, st := v.call(&item{op: opKeysetAttach, handle: uint64(engine), in: info.KeysetID[:]}, nil)
	return backend.Handle(val), st
}

func (v view) KeysetFileInfo(path string, keys []backend.KeyFileInfo) (backend.KeysetFileInfo, int, backend.Status) {
	return readKeysetFileInfo(path, keys)
}

// Writing keysets and moving them between KEKs are the key owner's
// operations, done with the in-process engine and the KEK (keyhold keyset
// ...); the daemon then reloads (SIGHUP). The daemon never writes or
// exports a keyset for a client.
func (v view) KeysetSaveFile(keyset, kek backend.Handle, path string) backend.Status {
	return backend.StatusUnsupported
}

func (v view) KeysetExportWrapped(keyset, kek backend.Handle, out []byte) (int, backend.Status) {
	return 0, backend.StatusUnsupported
}

func (v view) KeysetImportWrapped(engine, kek backend.Handle, blob []byte) (backend.Handle, backend.Status) {
	return 0, backend.StatusUnsupported
}
