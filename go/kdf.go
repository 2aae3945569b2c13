package keyhold

import (
	"runtime"
)

// KDF derives keys with HKDF (RFC 5869; HKDF-SHA256, HKDF-SHA512) from the
// keyset's primary key as input keying material. A KDF is safe for
// concurrent use.
type KDF struct{ ks *Keyset }

// KDF returns the keyset's key-derivation primitive, or ErrWrongPrimitive.
func (k *Keyset) KDF() (*KDF, error) {
	if err := k.primitive("keyset.kdf", PrimitiveKDF); err != nil {
		return nil, err
	}
	return &KDF{ks: k}, nil
}

// Derive returns n bytes of HKDF output for salt and info. n must be
// 1 .. 255 * hash length (else ErrInvalidArgument).
func (d *KDF) Derive(salt, info []byte, n int) ([]byte, error) {
	if n <= 0 {
		return nil, &Error{Op: "kdf.derive", Code: StatusInvalidArgument}
	}
	out := make([]byte, n)
	if err := d.DeriveInto(out, salt, info); err != nil {
		return nil, err
	}
	return out, nil
}

// DeriveInto fills out with HKDF output for salt and info. On error out is
// zeroed.
func (d *KDF) DeriveInto(out, salt, info []byte) error {
	const op = "kdf.derive"
	k := d.ks
	h, err := k.handle(op)
	if err != nil {
		return err
	}
	st := k.be.KDFDerive(h, unaliased(out, salt), unaliased(out, info), out)
	runtime.KeepAlive(k)
	return k.e.failed(op, st)
}
