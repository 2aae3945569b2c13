package keyhold

import (
	"context"
	"runtime"

	"keyhold.dev/keyhold/internal/backend"
)

// AEAD encrypts and authenticates with a keyset's primary key and a fresh
// random nonce, and decrypts with whichever key the ciphertext names
// (AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305).
//
// Managed keysets produce header || nonce || ciphertext || tag, the header
// (format version, algorithm, key id) being authenticated; raw keysets
// produce nonce || ciphertext || tag. An AEAD is safe for concurrent use.
type AEAD struct {
	ks       *Keyset
	overhead int
}

// AEAD returns the keyset's AEAD primitive, or ErrWrongPrimitive.
func (k *Keyset) AEAD() (*AEAD, error) {
	if err := k.primitive("keyset.aead", PrimitiveAEAD); err != nil {
		return nil, err
	}
	s := k.sizes
	overhead := s.Overhead
	if k.raw {
		overhead = s.NonceLen + s.TagLen
	}
	return &AEAD{ks: k, overhead: overhead}, nil
}

// Overhead is the ciphertext length minus the plaintext length.
func (a *AEAD) Overhead() int { return a.overhead }

// Keyset returns the keyset a uses.
func (a *AEAD) Keyset() *Keyset { return a.ks }

// Encrypt returns the encryption of plaintext, binding aad.
func (a *AEAD) Encrypt(plaintext, aad []byte) ([]byte, error) {
	return a.Seal(nil, plaintext, aad)
}

// Decrypt authenticates ciphertext and aad and returns the plaintext. Any
// authentication failure is ErrAuthFailed; a ciphertext that is not a
// keyhold encoding is ErrMalformed; a key id the keyset does not hold is
// ErrUnknownKey.
func (a *AEAD) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	return a.Open(nil, ciphertext, aad)
}

// Seal appends the encryption of plaintext to dst and returns the extended
// slice. With enough spare capacity in dst it allocates nothing: the engine
// writes straight into dst. If dst's spare capacity overlaps plaintext or
// aad, that input is copied first. On error dst is returned unchanged.
func (a *AEAD) Seal(dst, plaintext, aad []byte) ([]byte, error) {
	return a.seal(a.ks.be, dst, plaintext, aad)
}

// SealContext is Seal bound to ctx: in daemon mode its deadline and
// cancellation end the wait for the daemon, with an error matching
// ctx.Err(); in-process, ctx is checked before the call.
func (a *AEAD) SealContext(ctx context.Context, dst, plaintext, aad []byte) ([]byte, error) {
	be, err := withContext("aead.seal", a.ks.be, ctx)
	if err != nil {
		return dst, err
	}
	return a.seal(be, dst, plaintext, aad)
}

func (a *AEAD) seal(be backend.Backend, dst, plaintext, aad []byte) ([]byte, error) {
	const op = "aead.seal"
	k := a.ks
	h, err := k.handle(op)
	if err != nil {
		return dst, err
	}
	out, st := growCall(dst, len(plaintext)+a.overhead, func(out []byte) (int, backend.Status) {
		return be.AEADEncrypt(h, unaliased(out, plaintext), unaliased(out, aad), out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return dst, k.e.failed(op, st)
	}
	return out, nil
}

// Open appends the decryption of ciphertext to dst and returns the extended
// slice; see Decrypt for the errors. ciphertext[:0] may be passed as dst to
// reuse the ciphertext's storage (the ciphertext is then copied first). On
// error dst is returned unchanged and nothing of the
// plaintext is left in its spare capacity.
func (a *AEAD) Open(dst, ciphertext, aad []byte) ([]byte, error) {
	return a.open(a.ks.be, dst, ciphertext, aad)
}

// OpenContext is Open bound to ctx (see SealContext).
func (a *AEAD) OpenContext(ctx context.Context, dst, ciphertext, aad []byte) ([]byte, error) {
	be, err := withContext("aead.open", a.ks.be, ctx)
	if err != nil {
		return dst, err
	}
	return a.open(be, dst, ciphertext, aad)
}

func (a *AEAD) open(be backend.Backend, dst, ciphertext, aad []byte) ([]byte, error) {
	const op = "aead.open"
	k := a.ks
	h, err := k.handle(op)
	if err != nil {
		return dst, err
	}
	out, st := growCall(dst, len(ciphertext)-a.overhead, func(out []byte) (int, backend.Status) {
		return be.AEADDecrypt(h, unaliased(out, ciphertext), unaliased(out, aad), out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return dst, k.e.failed(op, st)
	}
	return out, nil
}
