package keyhold

import (
	"crypto/cipher"
	"runtime"

	"keyhold.dev/keyhold/internal/backend"
)

// cipherAEAD adapts a raw AEAD keyset to crypto/cipher.AEAD: the caller
// chooses the nonce (kh_aead_seal_nonce / kh_aead_open_nonce) and the
// output is ciphertext || tag, byte-compatible with Go's AES-GCM and
// ChaCha20-Poly1305.
type cipherAEAD struct {
	ks        *Keyset
	nonceSize int
	tagSize   int
}

var _ cipher.AEAD = (*cipherAEAD)(nil)

// maxGCMNonce is the longest AES-GCM nonce kh_aead_seal_nonce accepts.
const maxGCMNonce = 128

// NewCipherAEAD returns a cipher.AEAD over a raw AEAD keyset (Raw or
// ImportRawKey) with the algorithm's standard nonce size (12 bytes; 24 for
// XChaCha20-Poly1305). The caller owns nonce uniqueness, as with any
// cipher.AEAD. Managed keysets give ErrWrongPrimitive: use Keyset.AEAD.
//
// As cipher.AEAD requires, Seal has no error result: it panics on a nonce
// of the wrong length or an invalid buffer overlap (as the standard library
// does) and also when the engine refuses the operation (for example a
// closed keyset or a usage limit), with the *Error as the panic value.
// Open returns errors.
func NewCipherAEAD(ks *Keyset) (cipher.AEAD, error) {
	if err := ks.primitive("cipher_aead.new", PrimitiveAEAD); err != nil {
		return nil, err
	}
	return NewCipherAEADWithNonceSize(ks, ks.sizes.NonceLen)
}

// NewCipherAEADWithNonceSize is NewCipherAEAD with another nonce size, like
// cipher.NewGCMWithNonceSize; only AES-256-GCM accepts sizes other than its
// standard one (the engine takes 1..128 bytes).
func NewCipherAEADWithNonceSize(ks *Keyset, size int) (cipher.AEAD, error) {
	const op = "cipher_aead.new"
	if err := ks.primitive(op, PrimitiveAEAD); err != nil {
		return nil, err
	}
	if !ks.raw {
		return nil, &Error{Op: op, Code: StatusWrongPrimitive}
	}
	if size <= 0 || size > maxGCMNonce || (size != ks.sizes.NonceLen && ks.alg != AES256GCM) {
		return nil, &Error{Op: op, Code: StatusInvalidArgument}
	}
	return &cipherAEAD{ks: ks, nonceSize: size, tagSize: ks.sizes.TagLen}, nil
}

func (c *cipherAEAD) NonceSize() int { return c.nonceSize }
func (c *cipherAEAD) Overhead() int  { return c.tagSize }

func (c *cipherAEAD) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != c.nonceSize {
		panic("keyhold: incorrect nonce length given to AEAD")
	}
	out, err := c.seal(dst, nonce, plaintext, additionalData)
	if err != nil {
		panic(err)
	}
	return out
}

// seal is Seal with an error result and no nonce-length check (the
// Wycheproof tests use it to check the engine's own refusals).
func (c *cipherAEAD) seal(dst, nonce, plaintext, aad []byte) ([]byte, error) {
	const op = "aead.seal_nonce"
	k := c.ks
	h, err := k.handle(op)
	if err != nil {
		return dst, err
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("keyhold: invalid buffer overlap")
	}
	n, st := k.be.AEADSealNonce(h, unaliased(out, nonce), unaliased(out, plaintext), unaliased(out, aad), out)
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return dst, k.e.failed(op, st)
	}
	return ret[:len(dst)+n], nil
}

func (c *cipherAEAD) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	const op = "aead.open_nonce"
	if len(nonce) != c.nonceSize {
		return nil, &Error{Op: op, Code: StatusInvalidArgument}
	}
	return c.open(dst, nonce, ciphertext, additionalData)
}

func (c *cipherAEAD) open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	const op = "aead.open_nonce"
	k := c.ks
	h, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < c.tagSize {
		return nil, &Error{Op: op, Code: StatusAuthFailed}
	}
	ret, out := sliceForAppend(dst, len(ciphertext)-c.tagSize)
	if inexactOverlap(out, ciphertext) {
		panic("keyhold: invalid buffer overlap")
	}
	n, st := k.be.AEADOpenNonce(h, unaliased(out, nonce), unaliased(out, ciphertext), unaliased(out, aad), out)
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return nil, k.e.failed(op, st)
	}
	return ret[:len(dst)+n], nil
}
