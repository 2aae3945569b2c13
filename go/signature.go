package keyhold

import (
	"crypto"
	"crypto/ed25519"
	"io"
	"math/big"
	"runtime"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"keyhold.dev/keyhold/internal/backend"
)

// Signer signs with a signature keyset's primary key (Ed25519, ECDSA
// P-256). It implements crypto.Signer and crypto.MessageSigner with
// standard signatures, usable by crypto/tls, crypto/x509 and JOSE
// libraries; SignWithHeader makes keyhold-format signatures that name the
// key, for Verifier.Verify after rotation.
//
// Public returns the primary's public key as it was when the Signer was
// made: make a new Signer after Rotate or SetPrimary. A Signer is safe for
// concurrent use.
type Signer struct {
	ks  *Keyset
	pub crypto.PublicKey
}

var (
	_ crypto.Signer        = (*Signer)(nil)
	_ crypto.MessageSigner = (*Signer)(nil)
)

// Signer returns the keyset's signer, or ErrWrongPrimitive.
func (k *Keyset) Signer() (*Signer, error) {
	if err := k.primitive("keyset.signer", PrimitiveSignature); err != nil {
		return nil, err
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, err
	}
	return &Signer{ks: k, pub: pub}, nil
}

// Public returns an ed25519.PublicKey or an *ecdsa.PublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign implements crypto.Signer. The engine draws its own randomness, so
// rand is ignored.
//
// Ed25519 signs the whole message: digest is the message and
// opts.HashFunc() must be 0 (Ed25519ph and contexts are ErrUnsupported).
// ECDSA requires opts.HashFunc() == crypto.SHA256 and a 32-byte digest,
// and returns an ASN.1 DER signature as crypto.Signer demands, also for
// ECDSAP256P1363 keysets (whose r||s output is converted).
func (s *Signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	const op = "sig.sign_digest"
	if s.ks.alg == Ed25519 {
		return s.signEd25519(digest, opts)
	}
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, &Error{Op: op, Code: StatusUnsupported}
	}
	return s.sign(op, digest, backend.Backend.SigSignDigest)
}

// SignMessage implements crypto.MessageSigner: Ed25519 as Sign; ECDSA
// hashes msg with SHA-256 inside the engine (opts.HashFunc() must be
// crypto.SHA256) and returns DER.
func (s *Signer) SignMessage(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	const op = "sig.sign_plain"
	if s.ks.alg == Ed25519 {
		return s.signEd25519(msg, opts)
	}
	if opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, &Error{Op: op, Code: StatusUnsupported}
	}
	return s.sign(op, msg, backend.Backend.SigSignPlain)
}

func (s *Signer) signEd25519(msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	const op = "sig.sign_plain"
	if opts != nil {
		if opts.HashFunc() != 0 {
			return nil, &Error{Op: op, Code: StatusUnsupported}
		}
		if o, ok := opts.(*ed25519.Options); ok && (o.Hash != 0 || o.Context != "") {
			return nil, &Error{Op: op, Code: StatusUnsupported}
		}
	}
	return s.sign(op, msg, backend.Backend.SigSignPlain)
}

func (s *Signer) sign(op string, in []byte, f func(backend.Backend, backend.Handle, []byte, []byte) (int, backend.Status)) ([]byte, error) {
	k := s.ks
	h, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	sig, st := growCall(nil, k.sizes.MaxOutputLen, func(out []byte) (int, backend.Status) {
		return f(k.be, h, in, out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return nil, k.e.failed(op, st)
	}
	if k.alg == ECDSAP256P1363 {
		der, ok := p1363ToDER(sig)
		if !ok {
			return nil, &Error{Op: op, Code: StatusInternal}
		}
		return der, nil
	}
	return sig, nil
}

// SignWithHeader returns a keyhold-format signature of msg: header (format
// version, algorithm, key id) || signature over header || msg; raw
// keysets return the bare signature of msg. The signature encoding is the
// algorithm's (DER for ECDSAP256, r||s for ECDSAP256P1363). Verify it with
// Verifier.Verify.
func (s *Signer) SignWithHeader(msg []byte) ([]byte, error) {
	const op = "sig.sign"
	k := s.ks
	h, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	sig, st := growCall(nil, k.sizes.MaxOutputLen, func(out []byte) (int, backend.Status) {
		return k.be.SigSign(h, msg, out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return nil, k.e.failed(op, st)
	}
	return sig, nil
}

// Verifier verifies signatures with a signature keyset: its own keys, or a
// public key imported with ImportPublicKey. Safe for concurrent use.
type Verifier struct{ ks *Keyset }

// Verifier returns the keyset's verifier, or ErrWrongPrimitive.
func (k *Keyset) Verifier() (*Verifier, error) {
	if err := k.primitive("keyset.verifier", PrimitiveSignature); err != nil {
		return nil, err
	}
	return &Verifier{ks: k}, nil
}

// Verify checks a keyhold-format signature (Signer.SignWithHeader) of msg,
// selecting the key named in its header. It returns nil or an error
// matching ErrAuthFailed, ErrMalformed, ErrUnknownKey, ErrKeyDisabled...
// For raw and imported keysets the signature is a bare one, as VerifyPlain.
func (v *Verifier) Verify(msg, sig []byte) error {
	const op = "sig.verify"
	k := v.ks
	h, err := k.handle(op)
	if err != nil {
		return err
	}
	st := k.be.SigVerify(h, msg, sig)
	runtime.KeepAlive(k)
	return k.e.failed(op, st)
}

// VerifyPlain checks a standard signature (Ed25519 over msg; ECDSA over
// SHA-256(msg), DER for ECDSAP256 and r||s for ECDSAP256P1363) with the
// primary key.
func (v *Verifier) VerifyPlain(msg, sig []byte) error { return v.VerifyPlainKey(0, msg, sig) }

// VerifyPlainKey is VerifyPlain with key keyID (0 = the primary).
func (v *Verifier) VerifyPlainKey(keyID uint32, msg, sig []byte) error {
	const op = "sig.verify_plain"
	k := v.ks
	h, err := k.handle(op)
	if err != nil {
		return err
	}
	st := k.be.SigVerifyPlain(h, keyID, msg, sig)
	runtime.KeepAlive(k)
	return k.e.failed(op, st)
}

// p1363ToDER converts a 64-byte r||s ECDSA P-256 signature to DER
// ECDSA-Sig-Value.
func p1363ToDER(sig []byte) ([]byte, bool) {
	if len(sig) != 64 {
		return nil, false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	der, err := b.Bytes()
	return der, err == nil
}
