package keyhold

import (
	"runtime"

	"keyhold.dev/keyhold/internal/backend"
)

// DAEAD is deterministic authenticated encryption (AES-256-SIV, RFC 5297):
// the same plaintext and associated data under the same key always give
// the same ciphertext, which reveals equality and nothing else. Use it for
// lookup keys and key wrapping, not for general data (use AEAD).
//
// Managed keysets produce header || SIV || ciphertext; raw keysets produce
// SIV || ciphertext. A DAEAD is safe for concurrent use.
type DAEAD struct {
	ks       *Keyset
	overhead int
}

// DAEAD returns the keyset's deterministic AEAD primitive, or
// ErrWrongPrimitive.
func (k *Keyset) DAEAD() (*DAEAD, error) {
	if err := k.primitive("keyset.daead", PrimitiveDAEAD); err != nil {
		return nil, err
	}
	overhead := k.sizes.Overhead
	if k.raw {
		overhead = k.sizes.TagLen
	}
	return &DAEAD{ks: k, overhead: overhead}, nil
}

// Overhead is the ciphertext length minus the plaintext length.
func (d *DAEAD) Overhead() int { return d.overhead }

// Encrypt returns the deterministic encryption of plaintext, binding aad.
func (d *DAEAD) Encrypt(plaintext, aad []byte) ([]byte, error) { return d.Seal(nil, plaintext, aad) }

// Decrypt authenticates and decrypts; see AEAD.Decrypt for the errors.
func (d *DAEAD) Decrypt(ciphertext, aad []byte) ([]byte, error) { return d.Open(nil, ciphertext, aad) }

// Seal appends the encryption of plaintext to dst (see AEAD.Seal).
func (d *DAEAD) Seal(dst, plaintext, aad []byte) ([]byte, error) {
	const op = "daead.seal"
	k := d.ks
	h, err := k.handle(op)
	if err != nil {
		return dst, err
	}
	out, st := growCall(dst, len(plaintext)+d.overhead, func(out []byte) (int, backend.Status) {
		return k.be.DAEADEncrypt(h, unaliased(out, plaintext), unaliased(out, aad), out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return dst, k.e.failed(op, st)
	}
	return out, nil
}

// Open appends the decryption of ciphertext to dst (see AEAD.Open). An
// input overlapping dst's spare capacity is copied first.
func (d *DAEAD) Open(dst, ciphertext, aad []byte) ([]byte, error) {
	const op = "daead.open"
	k := d.ks
	h, err := k.handle(op)
	if err != nil {
		return dst, err
	}
	out, st := growCall(dst, len(ciphertext)-d.overhead, func(out []byte) (int, backend.Status) {
		return k.be.DAEADDecrypt(h, unaliased(out, ciphertext), unaliased(out, aad), out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return dst, k.e.failed(op, st)
	}
	return out, nil
}
