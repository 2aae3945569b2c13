package keyhold

import (
	"crypto/ecdh"
	"runtime"

	"keyhold.dev/keyhold/internal/backend"
)

// KeyAgreement computes X25519 shared secrets with the keyset's primary
// private key. Feed the secret to a KDF; never use it as a key directly.
type KeyAgreement struct{ ks *Keyset }

// KeyAgreement returns the keyset's key-agreement primitive, or
// ErrWrongPrimitive.
func (k *Keyset) KeyAgreement() (*KeyAgreement, error) {
	if err := k.primitive("keyset.kex", PrimitiveKeyAgreement); err != nil {
		return nil, err
	}
	return &KeyAgreement{ks: k}, nil
}

// PublicKey returns the primary key's public key.
func (a *KeyAgreement) PublicKey() (*ecdh.PublicKey, error) {
	pub, err := a.ks.PublicKey()
	if err != nil {
		return nil, err
	}
	return pub.(*ecdh.PublicKey), nil
}

// Agree returns the 32-byte X25519 shared secret with the peer's 32-byte
// public key. A low-order peer key (all-zero secret) is ErrInvalidArgument.
func (a *KeyAgreement) Agree(peer []byte) ([]byte, error) {
	const op = "kex.agree"
	k := a.ks
	h, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	out, st := growCall(nil, 32, func(out []byte) (int, backend.Status) {
		return k.be.KexAgree(h, peer, out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return nil, k.e.failed(op, st)
	}
	return out, nil
}
