package keyhold

import (
	"unsafe"

	"keyhold.dev/keyhold/internal/backend"
)

// sliceForAppend extends in by n bytes, reusing its capacity when it can
// (the crypto/cipher idiom). head is in extended; tail is the new part.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// growCall appends the output of call to dst. need is the expected output
// size; if the engine answers StatusBufferTooSmall with a larger size the
// call is made once more with that size. On failure dst is returned
// unchanged (the engine has zeroed whatever it wrote).
func growCall(dst []byte, need int, call func(out []byte) (int, backend.Status)) ([]byte, backend.Status) {
	if need < 0 {
		need = 0
	}
	head, out := sliceForAppend(dst, need)
	n, st := call(out)
	if st == backend.StatusBufferTooSmall && n > need {
		head, out = sliceForAppend(dst, n)
		n, st = call(out)
	}
	if st != backend.StatusOK {
		return dst, st
	}
	return head[:len(dst)+n], st
}

// anyOverlap reports whether x and y share memory at any (not necessarily
// corresponding) index.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}

// inexactOverlap reports whether x and y share memory at any non-
// corresponding index (crypto/cipher's rule for invalid aliasing).
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return anyOverlap(x, y)
}

// unaliased returns in, or a copy of in when it overlaps out. keyhold.h
// promises no in-place operation except an exact alias for
// kh_aead_decrypt, and the engine refuses that one (it wants the output to
// start where the ciphertext body starts), so an input the output would
// overwrite is always copied first. This costs an allocation only for
// callers that encrypt or decrypt in place.
func unaliased(out, in []byte) []byte {
	if anyOverlap(out, in) {
		return append([]byte(nil), in...)
	}
	return in
}
