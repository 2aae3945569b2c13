// Package native is the in-process keyhold backend: the engine
// (libkeyhold.a, with static libcrypto and libsodium) linked into the Go
// binary through cgo. It is the only package of the module that imports "C".
//
// Build the static library first: `make build` in the repository root
// produces build/lib/libkeyhold.a.
//
// Every method passes Go slices straight to C (no copies). The C functions
// neither retain a pointer after they return nor call back into Go, which is
// what the #cgo noescape / nocallback hints in hints.go declare.
package native

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: ${SRCDIR}/../../../build/lib/libkeyhold.a -l:libcrypto.a -l:libsodium.a -l:libIPSec_MB.a -lstdc++ -lm -ldl -lpthread
#include <keyhold/keyhold.h>
// Added after ABI 1's first baseline: declared here too, so the binding
// also builds against that header (scripts/abi-check). Compatible
// redeclarations of keyhold.h's prototypes.
kh_status kh_config_last_error(char* out, size_t out_cap, size_t* out_len);
kh_status kh_engine_config_get(kh_handle engine, char* out, size_t out_cap, size_t* out_len);
kh_status kh_engine_metrics_get(kh_handle engine, uint32_t format, char* out, size_t out_cap, size_t* out_len);
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"keyhold.dev/keyhold/internal/backend"
)

// Native implements backend.Backend over the C ABI. The zero value is ready
// to use once New has checked the library; it holds no state.
type Native struct{}

var _ backend.Backend = Native{}

// New checks that the linked library speaks the ABI this binding was written
// for and returns the backend.
func New() (backend.Backend, error) {
	if C.KH_ABI_VERSION != backend.ABIVersion {
		return nil, fmt.Errorf("header keyhold.h declares ABI %d, this binding was written for ABI %d",
			int(C.KH_ABI_VERSION), backend.ABIVersion)
	}
	if got := uint32(C.kh_abi_version()); got != backend.ABIVersion {
		return nil, fmt.Errorf("linked libkeyhold has ABI %d, this binding was written for ABI %d",
			got, backend.ABIVersion)
	}
	return Native{}, nil
}

// ptr returns a pointer to b's first byte, or nil for an empty slice (the
// ABI's valid empty buffer).
func ptr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

func st(s C.kh_status) backend.Status { return backend.Status(s) }

func (Native) Name() string { return "native" }

func (Native) ABIVersion() uint32 { return uint32(C.kh_abi_version()) }

func (Native) Version() string { return C.GoString(C.kh_version()) }

func (Native) BuildInfo() string { return C.GoString(C.kh_build_info()) }

// RuntimeInfo is kh_runtime_info: the backends selected at engine start.
func (Native) RuntimeInfo() string { return C.GoString(C.kh_runtime_info()) }

func (Native) AlgSizes(alg uint32) (backend.AlgSizes, backend.Status) {
	var s C.kh_alg_sizes
	r := C.kh_alg_sizes_get(C.kh_alg(alg), &s)
	if r != C.KH_OK {
		return backend.AlgSizes{}, st(r)
	}
	return backend.AlgSizes{
		KeyLen:       uint32(s.key_len),
		NonceLen:     uint32(s.nonce_len),
		TagLen:       uint32(s.tag_len),
		HeaderLen:    uint32(s.header_len),
		Overhead:     uint32(s.overhead),
		MaxOutputLen: uint32(s.max_output_len),
		PublicKeyLen: uint32(s.public_key_len),
	}, backend.StatusOK
}

func (Native) EngineOpen() (backend.Handle, backend.Status, string) {
	// kh_config_last_error is per OS thread: read it on the one that opened.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var h C.kh_handle
	r := C.kh_engine_open(&h)
	if r != C.KH_OK {
		b, s := text(func(out *C.char, outCap C.size_t, outLen *C.size_t) C.kh_status {
			return C.kh_config_last_error(out, outCap, outLen)
		})
		if s != backend.StatusOK {
			b = nil
		}
		return 0, st(r), string(b)
	}
	return backend.Handle(h), st(r), ""
}

func (Native) EngineClose(engine backend.Handle) backend.Status {
	return st(C.kh_engine_close(C.kh_handle(engine)))
}

func (Native) EngineStats(engine backend.Handle) (backend.EngineStats, backend.Status) {
	var s C.kh_engine_stats
	r := C.kh_engine_stats_get(C.kh_handle(engine), &s)
	if r != C.KH_OK {
		return backend.EngineStats{}, st(r)
	}
	return backend.EngineStats{
		LiveHandles:       uint64(s.live_handles),
		SecureBytesUsed:   uint64(s.secure_bytes_used),
		SecureBytesTotal:  uint64(s.secure_bytes_total),
		SecureBytesLocked: uint64(s.secure_bytes_locked),
		MlockFailures:     uint64(s.mlock_failures),
		SelfTestPassed:    s.self_test_passed == 1,
	}, backend.StatusOK
}

func (Native) KeysetGenerate(engine backend.Handle, alg, flags uint32) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_keyset_generate(C.kh_handle(engine), C.kh_alg(alg), C.uint32_t(flags), &h)
	return backend.Handle(h), st(r)
}

func (Native) KeysetImportRaw(engine backend.Handle, alg uint32, key []byte) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_keyset_import_raw(C.kh_handle(engine), C.kh_alg(alg), ptr(key), C.size_t(len(key)), &h)
	return backend.Handle(h), st(r)
}

func (Native) KeysetImportPublic(engine backend.Handle, alg uint32, pub []byte) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_keyset_import_public(C.kh_handle(engine), C.kh_alg(alg), ptr(pub), C.size_t(len(pub)), &h)
	return backend.Handle(h), st(r)
}

func (Native) KeysetRotate(keyset backend.Handle) (uint32, backend.Status) {
	var id C.uint32_t
	r := C.kh_keyset_rotate(C.kh_handle(keyset), &id)
	return uint32(id), st(r)
}

func (Native) KeysetSetPrimary(keyset backend.Handle, keyID uint32) backend.Status {
	return st(C.kh_keyset_set_primary(C.kh_handle(keyset), C.uint32_t(keyID)))
}

func (Native) KeysetDisable(keyset backend.Handle, keyID uint32) backend.Status {
	return st(C.kh_keyset_disable(C.kh_handle(keyset), C.uint32_t(keyID)))
}

func (Native) KeysetEnable(keyset backend.Handle, keyID uint32) backend.Status {
	return st(C.kh_keyset_enable(C.kh_handle(keyset), C.uint32_t(keyID)))
}

func (Native) KeysetDestroyKey(keyset backend.Handle, keyID uint32) backend.Status {
	return st(C.kh_keyset_destroy_key(C.kh_handle(keyset), C.uint32_t(keyID)))
}

func (Native) KeysetInfo(keyset backend.Handle) (backend.KeysetInfo, backend.Status) {
	var i C.kh_keyset_info
	r := C.kh_keyset_info_get(C.kh_handle(keyset), &i)
	if r != C.KH_OK {
		return backend.KeysetInfo{}, st(r)
	}
	return backend.KeysetInfo{
		Alg:          uint32(i.alg),
		Flags:        uint32(i.flags),
		PrimaryKeyID: uint32(i.primary_key_id),
		KeyCount:     uint32(i.key_count),
	}, backend.StatusOK
}

func (Native) KeysetKeyInfo(keyset backend.Handle, index uint32) (backend.KeyInfo, backend.Status) {
	var i C.kh_key_info
	r := C.kh_keyset_key_info_get(C.kh_handle(keyset), C.uint32_t(index), &i)
	if r != C.KH_OK {
		return backend.KeyInfo{}, st(r)
	}
	return backend.KeyInfo{
		KeyID:     uint32(i.key_id),
		Status:    uint32(i.status),
		IsPrimary: i.is_primary == 1,
		UseCount:  uint64(i.use_count),
	}, backend.StatusOK
}

func (Native) KeysetPublicKey(keyset backend.Handle, keyID, format uint32, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_keyset_public_key(C.kh_handle(keyset), C.uint32_t(keyID), C.uint32_t(format),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) HandleClose(h backend.Handle) backend.Status {
	return st(C.kh_handle_close(C.kh_handle(h)))
}

func (Native) AEADEncrypt(keyset backend.Handle, pt, aad, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_aead_encrypt(C.kh_handle(keyset), ptr(pt), C.size_t(len(pt)), ptr(aad), C.size_t(len(aad)),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) AEADDecrypt(keyset backend.Handle, ct, aad, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_aead_decrypt(C.kh_handle(keyset), ptr(ct), C.size_t(len(ct)), ptr(aad), C.size_t(len(aad)),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) AEADSealNonce(keyset backend.Handle, nonce, pt, aad, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_aead_seal_nonce(C.kh_handle(keyset), ptr(nonce), C.size_t(len(nonce)), ptr(pt), C.size_t(len(pt)),
		ptr(aad), C.size_t(len(aad)), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) AEADOpenNonce(keyset backend.Handle, nonce, ct, aad, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_aead_open_nonce(C.kh_handle(keyset), ptr(nonce), C.size_t(len(nonce)), ptr(ct), C.size_t(len(ct)),
		ptr(aad), C.size_t(len(aad)), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) DAEADEncrypt(keyset backend.Handle, pt, aad, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_daead_encrypt(C.kh_handle(keyset), ptr(pt), C.size_t(len(pt)), ptr(aad), C.size_t(len(aad)),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) DAEADDecrypt(keyset backend.Handle, ct, aad, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_daead_decrypt(C.kh_handle(keyset), ptr(ct), C.size_t(len(ct)), ptr(aad), C.size_t(len(aad)),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) MACCompute(keyset backend.Handle, msg, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_mac_compute(C.kh_handle(keyset), ptr(msg), C.size_t(len(msg)), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) MACVerify(keyset backend.Handle, msg, tag []byte) backend.Status {
	return st(C.kh_mac_verify(C.kh_handle(keyset), ptr(msg), C.size_t(len(msg)), ptr(tag), C.size_t(len(tag))))
}

func (Native) SigSign(keyset backend.Handle, msg, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_sig_sign(C.kh_handle(keyset), ptr(msg), C.size_t(len(msg)), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) SigVerify(keyset backend.Handle, msg, sig []byte) backend.Status {
	return st(C.kh_sig_verify(C.kh_handle(keyset), ptr(msg), C.size_t(len(msg)), ptr(sig), C.size_t(len(sig))))
}

func (Native) SigSignPlain(keyset backend.Handle, msg, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_sig_sign_plain(C.kh_handle(keyset), ptr(msg), C.size_t(len(msg)), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) SigSignDigest(keyset backend.Handle, digest, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_sig_sign_digest(C.kh_handle(keyset), ptr(digest), C.size_t(len(digest)), ptr(out),
		C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) SigVerifyPlain(keyset backend.Handle, keyID uint32, msg, sig []byte) backend.Status {
	return st(C.kh_sig_verify_plain(C.kh_handle(keyset), C.uint32_t(keyID), ptr(msg), C.size_t(len(msg)),
		ptr(sig), C.size_t(len(sig))))
}

func (Native) KexAgree(keyset backend.Handle, peer, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_kex_agree(C.kh_handle(keyset), ptr(peer), C.size_t(len(peer)), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) KDFDerive(keyset backend.Handle, salt, info, out []byte) backend.Status {
	return st(C.kh_kdf_derive(C.kh_handle(keyset), ptr(salt), C.size_t(len(salt)), ptr(info), C.size_t(len(info)),
		ptr(out), C.size_t(len(out))))
}

func (Native) RandomBytes(out []byte) backend.Status {
	return st(C.kh_random_bytes(ptr(out), C.size_t(len(out))))
}

// text runs a kh_* call of the text-output convention (keyhold.h), growing
// the buffer when the text grew between the size query and the copy.
func text(call func(out *C.char, outCap C.size_t, outLen *C.size_t) C.kh_status) ([]byte, backend.Status) {
	var n C.size_t
	r := call(nil, 0, &n)
	for r == C.KH_E_BUFFER_TOO_SMALL {
		buf := make([]byte, int(n)+int(n)/8+256)
		r = call((*C.char)(unsafe.Pointer(unsafe.SliceData(buf))), C.size_t(len(buf)), &n)
		if r == C.KH_OK {
			return buf[:int(n)], backend.StatusOK
		}
	}
	if r != C.KH_OK {
		return nil, st(r)
	}
	return []byte{}, backend.StatusOK
}

func (Native) EngineConfig(engine backend.Handle) ([]byte, backend.Status) {
	return text(func(out *C.char, outCap C.size_t, outLen *C.size_t) C.kh_status {
		return C.kh_engine_config_get(C.kh_handle(engine), out, outCap, outLen)
	})
}

func (Native) EngineMetrics(engine backend.Handle, format uint32) ([]byte, backend.Status) {
	return text(func(out *C.char, outCap C.size_t, outLen *C.size_t) C.kh_status {
		return C.kh_engine_metrics_get(C.kh_handle(engine), C.uint32_t(format), out, outCap, outLen)
	})
}
