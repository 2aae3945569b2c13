package keyhold

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

var aeadAlgs = []Algorithm{AES256GCM, ChaCha20Poly1305, XChaCha20Poly1305}

func TestAEADRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 17, 64, 1000, 1 << 16}
	for _, alg := range aeadAlgs {
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/raw=%v", alg, raw), func(t *testing.T) {
				var opts []KeysetOption
				if raw {
					opts = append(opts, Raw())
				}
				a := must(newKeyset(t, alg, opts...).AEAD())
				s := must(suite.Sizes(alg))
				wantOverhead := s.Overhead
				if raw {
					wantOverhead = s.NonceLen + s.TagLen
				}
				if a.Overhead() != wantOverhead {
					t.Fatalf("Overhead() = %d, want %d", a.Overhead(), wantOverhead)
				}
				for _, n := range sizes {
					pt := randBytes(t, n)
					aad := randBytes(t, n%37)
					ct := must(a.Encrypt(pt, aad))
					if len(ct) != n+a.Overhead() {
						t.Fatalf("len(ct) = %d, want %d", len(ct), n+a.Overhead())
					}
					got := must(a.Decrypt(ct, aad))
					if !bytes.Equal(got, pt) {
						t.Fatalf("%d bytes: round trip mismatch", n)
					}
					ct2 := must(a.Encrypt(pt, aad))
					if bytes.Equal(ct, ct2) {
						t.Fatal("two encryptions are equal (nonce reuse)")
					}
					if _, err := a.Decrypt(ct, append(aad, 0)); !errors.Is(err, ErrAuthFailed) {
						t.Fatalf("wrong aad: %v", err)
					}
				}
			})
		}
	}
}

func TestAEADTamper(t *testing.T) {
	for _, alg := range aeadAlgs {
		t.Run(alg.String(), func(t *testing.T) {
			ks := newKeyset(t, alg)
			a := must(ks.AEAD())
			ct := must(a.Encrypt([]byte("attack at dawn"), []byte("hdr")))
			s := must(suite.Sizes(alg))
			for i := range ct {
				bad := bytes.Clone(ct)
				bad[i] ^= 0x01
				_, err := a.Decrypt(bad, []byte("hdr"))
				var ke *Error
				if !errors.As(err, &ke) {
					t.Fatalf("byte %d flipped: %v", i, err)
				}
				// Header bytes may give malformed/unknown key; the body only auth failure.
				if i >= s.HeaderLen && !errors.Is(err, ErrAuthFailed) {
					t.Errorf("byte %d flipped: %v, want ErrAuthFailed", i, err)
				}
			}
			for _, n := range []int{0, 1, s.HeaderLen, s.Overhead - 1} {
				if _, err := a.Decrypt(ct[:n], []byte("hdr")); err == nil {
					t.Errorf("truncated to %d bytes: no error", n)
				}
			}
			// Another keyset's key id is unknown here.
			other := must(newKeyset(t, alg).AEAD())
			foreign := must(other.Encrypt([]byte("x"), nil))
			if _, err := a.Decrypt(foreign, nil); !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrAuthFailed) {
				t.Errorf("foreign ciphertext: %v", err)
			}
		})
	}
}

func TestAEADAppendAndInPlace(t *testing.T) {
	a := must(newKeyset(t, AES256GCM).AEAD())
	prefix := []byte("prefix:")
	pt := []byte("the plaintext")
	dst := make([]byte, len(prefix), 256)
	copy(dst, prefix)
	ct := must(a.Seal(dst, pt, nil))
	if !bytes.Equal(ct[:len(prefix)], prefix) || &ct[0] != &dst[0] {
		t.Fatal("Seal did not append into dst's capacity")
	}
	out := must(a.Open(ct[:len(prefix)], ct[len(prefix):], nil))
	if !bytes.Equal(out[len(prefix):], pt) {
		t.Fatal("Open appended the wrong plaintext")
	}
	// Exactly in place: Open(ct[:0], ct).
	ct = must(a.Encrypt(pt, nil))
	got := must(a.Open(ct[:0], ct, nil))
	if !bytes.Equal(got, pt) {
		t.Fatal("in-place Open mismatch")
	}
	// Seal over its own plaintext (the output is longer and shifted).
	buf := make([]byte, len(pt), len(pt)+a.Overhead())
	copy(buf, pt)
	ct = must(a.Seal(buf[:0], buf, nil))
	if !bytes.Equal(must(a.Decrypt(ct, nil)), pt) {
		t.Fatal("Seal over its own plaintext mismatch")
	}
	// Failure leaves dst as it was and no plaintext in its capacity.
	ct = must(a.Encrypt(pt, nil))
	ct[len(ct)-1] ^= 1
	dst = make([]byte, 3, 100)
	res, err := a.Open(dst, ct, nil)
	if !errors.Is(err, ErrAuthFailed) || len(res) != 3 {
		t.Fatalf("Open tampered: len %d, %v", len(res), err)
	}
	if bytes.Contains(dst[:cap(dst)], pt[:8]) {
		t.Fatal("plaintext left in dst after a failed Open")
	}
}

func TestAEADSealAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	a := must(newKeyset(t, AES256GCM).AEAD())
	pt := make([]byte, 1024)
	dst := make([]byte, 0, len(pt)+a.Overhead())
	ct := must(a.Seal(dst, pt, nil))
	ptBuf := make([]byte, 0, len(pt))
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = a.Seal(dst[:0], pt, nil); err != nil {
			t.Fatal(err)
		}
		if ptBuf, err = a.Open(ptBuf[:0], ct, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Seal+Open allocate %v times per call in steady state, want 0", allocs)
	}
}

func TestDAEAD(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			var opts []KeysetOption
			if raw {
				opts = append(opts, Raw())
			}
			ks := newKeyset(t, AES256SIV, opts...)
			d := must(ks.DAEAD())
			for _, n := range []int{0, 1, 16, 100, 4096} {
				pt := randBytes(t, n)
				c1 := must(d.Encrypt(pt, []byte("ad")))
				c2 := must(d.Encrypt(pt, []byte("ad")))
				if !bytes.Equal(c1, c2) || len(c1) != n+d.Overhead() {
					t.Fatalf("%d bytes: not deterministic or wrong length", n)
				}
				if !bytes.Equal(must(d.Decrypt(c1, []byte("ad"))), pt) {
					t.Fatal("round trip mismatch")
				}
				c1[len(c1)-1] ^= 1
				if n > 0 {
					if _, err := d.Decrypt(c1, []byte("ad")); !errors.Is(err, ErrAuthFailed) {
						t.Fatalf("tampered: %v", err)
					}
				}
			}
			if _, err := ks.AEAD(); !errors.Is(err, ErrWrongPrimitive) {
				t.Errorf("AEAD of a DAEAD keyset: %v", err)
			}
		})
	}
}

func TestMAC(t *testing.T) {
	for _, alg := range []Algorithm{HMACSHA256, HMACSHA512} {
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/raw=%v", alg, raw), func(t *testing.T) {
				var opts []KeysetOption
				if raw {
					opts = append(opts, Raw())
				}
				ks := newKeyset(t, alg, opts...)
				m := must(ks.MAC())
				msg := []byte("message")
				tag := must(m.Compute(msg))
				if len(tag) != m.Size() {
					t.Fatalf("len(tag) = %d, Size() = %d", len(tag), m.Size())
				}
				if err := m.Verify(msg, tag); err != nil {
					t.Fatal(err)
				}
				if err := m.Verify([]byte("massage"), tag); !errors.Is(err, ErrAuthFailed) {
					t.Errorf("wrong message: %v", err)
				}
				bad := bytes.Clone(tag)
				bad[len(bad)-1] ^= 1
				if err := m.Verify(msg, bad); !errors.Is(err, ErrAuthFailed) {
					t.Errorf("wrong tag: %v", err)
				}
				short := tag[:len(tag)-1]
				if err := m.Verify(msg, short); raw && err != nil {
					t.Errorf("raw truncated tag: %v", err)
				} else if !raw && err == nil {
					t.Error("managed keyset accepted a truncated tag")
				}
				if raw {
					if err := m.Verify(msg, tag[:9]); err == nil {
						t.Error("raw keyset accepted a 9-byte tag")
					}
					return
				}
				must(ks.Rotate())
				if err := m.Verify(msg, tag); err != nil {
					t.Errorf("old tag after rotation: %v", err)
				}
				dst := make([]byte, 2, 2+m.Size())
				sum := must(m.Sum(dst, msg))
				if &sum[0] != &dst[0] || m.Verify(msg, sum[2:]) != nil {
					t.Error("Sum did not append a valid tag")
				}
			})
		}
	}
}

func TestKDF(t *testing.T) {
	ikm := []byte("input keying material")
	ks := importRaw(t, HKDFSHA256, ikm)
	k := must(ks.KDF())
	a := must(k.Derive([]byte("salt"), []byte("info"), 42))
	b := must(k.Derive([]byte("salt"), []byte("info"), 42))
	c := must(k.Derive([]byte("salt"), []byte("other"), 42))
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || len(a) != 42 {
		t.Fatal("HKDF is not deterministic or ignores info")
	}
	for _, n := range []int{0, -1, 255*32 + 1} {
		if _, err := k.Derive(nil, nil, n); !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("Derive(n=%d): %v", n, err)
		}
	}
	gen := newKeyset(t, HKDFSHA512)
	if len(must(must(gen.KDF()).Derive(nil, nil, 64))) != 64 {
		t.Fatal("generated HKDF keyset")
	}
}

func TestKeyAgreement(t *testing.T) {
	a := must(newKeyset(t, X25519).KeyAgreement())
	b := must(newKeyset(t, X25519).KeyAgreement())
	pa, pb := must(a.PublicKey()), must(b.PublicKey())
	s1 := must(a.Agree(pb.Bytes()))
	s2 := must(b.Agree(pa.Bytes()))
	if !bytes.Equal(s1, s2) || len(s1) != 32 {
		t.Fatal("X25519 secrets differ")
	}
	if _, err := a.Agree(make([]byte, 32)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("low-order peer: %v", err)
	}
	if _, err := a.Agree(make([]byte, 31)); err == nil {
		t.Error("31-byte peer key accepted")
	}
}
