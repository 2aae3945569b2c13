package keyhold

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TestInteropAEAD checks keyhold's raw keysets against Go's own AES-GCM and
// x/crypto's (X)ChaCha20-Poly1305 on random inputs, in both directions:
// the key is imported into keyhold, so both sides hold the same key.
func TestInteropAEAD(t *testing.T) {
	tests := []struct {
		alg    Algorithm
		stdlib func(key []byte) (cipher.AEAD, error)
	}{
		{AES256GCM, func(key []byte) (cipher.AEAD, error) {
			b, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			return cipher.NewGCM(b)
		}},
		{ChaCha20Poly1305, chacha20poly1305.New},
		{XChaCha20Poly1305, chacha20poly1305.NewX},
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, tc := range tests {
		t.Run(tc.alg.String(), func(t *testing.T) {
			key := randBytes(t, 32)
			ks := importRaw(t, tc.alg, key)
			kh := must(NewCipherAEAD(ks))
			std := must(tc.stdlib(key))
			if kh.NonceSize() != std.NonceSize() || kh.Overhead() != std.Overhead() {
				t.Fatalf("sizes: keyhold %d/%d, stdlib %d/%d", kh.NonceSize(), kh.Overhead(), std.NonceSize(), std.Overhead())
			}
			a := must(ks.AEAD())
			for i := 0; i < 200; i++ {
				n := rng.IntN(2048)
				if i%50 == 0 {
					n = rng.IntN(1 << 17)
				}
				pt, aad, nonce := randBytes(t, n), randBytes(t, rng.IntN(64)), randBytes(t, kh.NonceSize())

				c1 := kh.Seal(nil, nonce, pt, aad)
				c2 := std.Seal(nil, nonce, pt, aad)
				if !bytes.Equal(c1, c2) {
					t.Fatalf("case %d (%d bytes): ciphertexts differ", i, n)
				}
				p1, err := std.Open(nil, nonce, c1, aad)
				if err != nil || !bytes.Equal(p1, pt) {
					t.Fatalf("case %d: stdlib cannot open keyhold's ciphertext: %v", i, err)
				}
				p2, err := kh.Open(nil, nonce, c2, aad)
				if err != nil || !bytes.Equal(p2, pt) {
					t.Fatalf("case %d: keyhold cannot open stdlib's ciphertext: %v", i, err)
				}
				// The random-nonce AEAD of a raw keyset is nonce || ct || tag.
				ct := must(a.Encrypt(pt, aad))
				ns := kh.NonceSize()
				p3, err := std.Open(nil, ct[:ns], ct[ns:], aad)
				if err != nil || !bytes.Equal(p3, pt) {
					t.Fatalf("case %d: stdlib cannot open keyhold's nonce||ct||tag: %v", i, err)
				}
				if p4 := must(a.Decrypt(append(bytes.Clone(nonce), c2...), aad)); !bytes.Equal(p4, pt) {
					t.Fatalf("case %d: keyhold cannot decrypt stdlib's nonce||ct||tag", i)
				}
				c2[rng.IntN(len(c2))] ^= 0x80
				if _, err := kh.Open(nil, nonce, c2, aad); !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("case %d: tampered: %v", i, err)
				}
			}
		})
	}
}

func TestCipherAEADSemantics(t *testing.T) {
	ks := importRaw(t, AES256GCM, randBytes(t, 32))
	c := must(NewCipherAEAD(ks))
	nonce := make([]byte, 12)
	pt := []byte("in-place plaintext")

	// In place: Seal(pt[:0], ...) and Open(ct[:0], ...), as crypto/cipher allows.
	buf := make([]byte, len(pt), len(pt)+c.Overhead())
	copy(buf, pt)
	ct := c.Seal(buf[:0], nonce, buf, nil)
	if &ct[0] != &buf[0] {
		t.Error("in-place Seal did not reuse the buffer")
	}
	out, err := c.Open(ct[:0], nonce, ct, nil)
	if err != nil || !bytes.Equal(out, pt) {
		t.Fatalf("in-place Open: %v", err)
	}

	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	panics("Seal with a short nonce", func() { c.Seal(nil, nonce[:11], pt, nil) })
	big := make([]byte, 100)
	panics("Seal with inexact overlap", func() { c.Seal(big[:0], nonce, big[1:50], nil) })
	if _, err := c.Open(nil, nonce[:11], ct, nil); err == nil {
		t.Error("Open with a short nonce succeeded")
	}
	if _, err := c.Open(nil, nonce, ct[:15], nil); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("Open of a short ciphertext: %v", err)
	}

	// Odd nonce sizes for AES-GCM, as cipher.NewGCMWithNonceSize.
	for _, size := range []int{1, 8, 16, 64, 128} {
		kc := must(NewCipherAEADWithNonceSize(ks, size))
		n := randBytes(t, size)
		if got, err := kc.Open(nil, n, kc.Seal(nil, n, pt, nil), nil); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("nonce size %d: %v", size, err)
		}
	}
	if _, err := NewCipherAEADWithNonceSize(ks, 129); err == nil {
		t.Error("AES-GCM accepted a 129-byte nonce size")
	}
	if _, err := must(NewCipherAEAD(ks)).(*cipherAEAD).seal(nil, make([]byte, 129), pt, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("engine with a 129-byte AES-GCM nonce: %v", err)
	}
	if _, err := NewCipherAEADWithNonceSize(importRaw(t, ChaCha20Poly1305, randBytes(t, 32)), 8); err == nil {
		t.Error("ChaCha20-Poly1305 accepted an 8-byte nonce size")
	}

	// Seal on a closed keyset panics with a matching *Error.
	ks2 := importRaw(t, AES256GCM, randBytes(t, 32))
	c2 := must(NewCipherAEAD(ks2))
	ks2.Close()
	func() {
		defer func() {
			err, _ := recover().(error)
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Seal on a closed keyset panicked with %v", err)
			}
		}()
		c2.Seal(nil, nonce, pt, nil)
	}()
	if _, err := c2.Open(nil, nonce, ct, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Open on a closed keyset: %v", err)
	}
}

// TestInteropSignatures: keyhold signatures verify with crypto/ed25519 and
// crypto/ecdsa, and stdlib signatures verify through ImportPublicKey.
func TestInteropSignatures(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	t.Run("Ed25519", func(t *testing.T) {
		seed := randBytes(t, ed25519.SeedSize)
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		imported := importRaw(t, Ed25519, seed)
		generated := newKeyset(t, Ed25519)
		for _, ks := range []*Keyset{imported, generated} {
			s := must(ks.Signer())
			kpub := s.Public().(ed25519.PublicKey)
			if ks == imported && !kpub.Equal(pub) {
				t.Fatal("imported seed gives another public key")
			}
			v := must(suite.ImportCryptoPublicKey(Ed25519, kpub))
			vv := must(v.Verifier())
			for i := 0; i < 50; i++ {
				msg := randBytes(t, rng.IntN(1000))
				sig := must(s.Sign(nil, msg, crypto.Hash(0)))
				if !ed25519.Verify(kpub, msg, sig) {
					t.Fatal("crypto/ed25519 rejects keyhold's signature")
				}
				if ks == imported && !bytes.Equal(sig, ed25519.Sign(priv, msg)) {
					t.Fatal("Ed25519 signatures differ (they are deterministic)")
				}
				if err := vv.VerifyPlain(msg, ed25519.Sign(priv, msg)); (err == nil) != (ks == imported) {
					t.Fatalf("stdlib signature through ImportPublicKey: %v", err)
				}
				if err := vv.VerifyPlain(msg, sig); err != nil {
					t.Fatalf("own signature: %v", err)
				}
				sig[rng.IntN(len(sig))] ^= 4
				if err := vv.VerifyPlain(msg, sig); !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("tampered: %v", err)
				}
			}
			v.Close()
			if _, err := s.Sign(nil, []byte("m"), crypto.SHA256); err == nil {
				t.Error("Ed25519 Sign with a hash succeeded")
			}
			if _, err := s.Sign(nil, []byte("m"), &ed25519.Options{Context: "ctx"}); err == nil {
				t.Error("Ed25519ctx accepted")
			}
		}
	})
	for _, alg := range []Algorithm{ECDSAP256, ECDSAP256P1363} {
		t.Run(alg.String(), func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ks := newKeyset(t, alg)
			s := must(ks.Signer())
			kpub := s.Public().(*ecdsa.PublicKey)
			own := must(ks.Verifier())
			stdv := must(suite.ImportCryptoPublicKey(alg, &priv.PublicKey))
			defer stdv.Close()
			vv := must(stdv.Verifier())
			for i := 0; i < 30; i++ {
				msg := randBytes(t, rng.IntN(1000))
				digest := sha256.Sum256(msg)
				sig := must(s.Sign(nil, digest[:], crypto.SHA256))
				if !ecdsa.VerifyASN1(kpub, digest[:], sig) {
					t.Fatal("crypto/ecdsa rejects keyhold's Sign")
				}
				msig := must(s.SignMessage(nil, msg, crypto.SHA256))
				if !ecdsa.VerifyASN1(kpub, digest[:], msig) {
					t.Fatal("crypto/ecdsa rejects keyhold's SignMessage")
				}
				stdSig := must(ecdsa.SignASN1(rand.Reader, priv, digest[:]))
				if alg == ECDSAP256P1363 {
					stdSig = derToP1363(t, stdSig)
					sig = derToP1363(t, sig)
				}
				if err := vv.VerifyPlain(msg, stdSig); err != nil {
					t.Fatalf("stdlib signature through ImportPublicKey: %v", err)
				}
				if err := own.VerifyPlain(msg, sig); err != nil {
					t.Fatalf("own signature: %v", err)
				}
				if err := own.VerifyPlain(msg, stdSig); !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("another key's signature: %v", err)
				}
			}
			for _, opts := range []crypto.SignerOpts{crypto.Hash(0), crypto.SHA384, crypto.SHA512} {
				if _, err := s.Sign(nil, make([]byte, 32), opts); err == nil {
					t.Errorf("ECDSA Sign with %v succeeded", opts)
				}
			}
			if _, err := s.Sign(nil, make([]byte, 31), crypto.SHA256); err == nil {
				t.Error("ECDSA Sign of a 31-byte digest succeeded")
			}
		})
	}
}

// derToP1363 converts a DER ECDSA signature to 64-byte r||s.
func derToP1363(t testing.TB, der []byte) []byte {
	t.Helper()
	r, s, ok := parseDERSig(der)
	if !ok {
		t.Fatalf("bad DER signature %x", der)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func TestSignWithHeader(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ECDSAP256, ECDSAP256P1363} {
		t.Run(alg.String(), func(t *testing.T) {
			ks := newKeyset(t, alg)
			s := must(ks.Signer())
			v := must(ks.Verifier())
			msg := []byte("keyhold-format message")
			sig := must(s.SignWithHeader(msg))
			if err := v.Verify(msg, sig); err != nil {
				t.Fatal(err)
			}
			must(ks.Rotate())
			sig2 := must(s.SignWithHeader(msg))
			for i, sg := range [][]byte{sig, sig2} {
				if err := v.Verify(msg, sg); err != nil {
					t.Errorf("signature %d after rotation: %v", i, err)
				}
				if err := v.Verify([]byte("other"), sg); !errors.Is(err, ErrAuthFailed) {
					t.Errorf("signature %d on another message: %v", i, err)
				}
			}
			// A keyhold-format signature is not a plain one, and vice versa.
			if err := v.VerifyPlain(msg, sig2); err == nil {
				t.Error("header signature verified as plain")
			}
			for _, bad := range [][]byte{nil, sig[:3], append(bytes.Clone(sig), 0)} {
				if err := v.Verify(msg, bad); err == nil {
					t.Errorf("malformed signature %x verified", bad)
				}
			}
		})
	}
}

// parseDERSig parses a DER ECDSA-Sig-Value.
func parseDERSig(der []byte) (r, s *big.Int, ok bool) {
	r, s = new(big.Int), new(big.Int)
	var inner cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, nil, false
	}
	return r, s, true
}
