package keyhold

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestKeysetLifecycle(t *testing.T) {
	ks := newKeyset(t, AES256GCM)
	a := must(ks.AEAD())
	info := must(ks.Info())
	if info.Algorithm != AES256GCM || info.Raw || len(info.Keys) != 1 || !info.Keys[0].Primary ||
		info.Keys[0].ID != info.PrimaryKeyID || info.Keys[0].Status != KeyEnabled {
		t.Fatalf("fresh keyset info %+v", info)
	}
	first := info.PrimaryKeyID

	ct1 := must(a.Encrypt([]byte("one"), nil))
	second := must(ks.Rotate())
	if second == first {
		t.Fatalf("Rotate returned the old id %d", first)
	}
	ct2 := must(a.Encrypt([]byte("two"), nil))
	info = must(ks.Info())
	if info.PrimaryKeyID != second || len(info.Keys) != 2 || info.Keys[0].Primary || !info.Keys[1].Primary {
		t.Fatalf("after rotate %+v", info)
	}
	if info.Keys[0].UseCount != 1 || info.Keys[1].UseCount != 1 {
		t.Errorf("use counts %d, %d, want 1, 1", info.Keys[0].UseCount, info.Keys[1].UseCount)
	}
	// Old ciphertexts still decrypt after rotation.
	for _, ct := range [][]byte{ct1, ct2} {
		if _, err := a.Decrypt(ct, nil); err != nil {
			t.Fatalf("decrypt after rotate: %v", err)
		}
	}

	steps := []struct {
		name string
		do   func() error
		want error // of the step itself
		ct1  error // decrypting ct1 afterwards
	}{
		{"disable primary refused", func() error { return ks.Disable(second) }, ErrInvalidArgument, nil},
		{"disable old", func() error { return ks.Disable(first) }, nil, ErrKeyDisabled},
		{"primary to disabled refused", func() error { return ks.SetPrimary(first) }, ErrAny, ErrKeyDisabled},
		{"enable old", func() error { return ks.Enable(first) }, nil, nil},
		{"set primary old", func() error { return ks.SetPrimary(first) }, nil, nil},
		{"destroy primary refused", func() error { return ks.DestroyKey(first) }, ErrAny, nil},
		{"set primary back", func() error { return ks.SetPrimary(second) }, nil, nil},
		{"destroy old", func() error { return ks.DestroyKey(first) }, nil, ErrKeyDestroyed},
		{"enable destroyed refused", func() error { return ks.Enable(first) }, ErrAny, ErrKeyDestroyed},
		{"unknown key", func() error { return ks.Disable(999999) }, ErrUnknownKey, ErrKeyDestroyed},
	}
	for _, s := range steps {
		err := s.do()
		switch {
		case s.want == nil && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case s.want == ErrAny && err == nil:
			t.Errorf("%s: succeeded", s.name)
		case s.want != nil && s.want != ErrAny && !errors.Is(err, s.want):
			t.Errorf("%s: %v, want %v", s.name, err, s.want)
		}
		_, err = a.Decrypt(ct1, nil)
		if (s.ct1 == nil) != (err == nil) || (s.ct1 != nil && !errors.Is(err, s.ct1)) {
			t.Errorf("%s: decrypt old ciphertext: %v, want %v", s.name, err, s.ct1)
		}
	}
	info = must(ks.Info())
	if info.Keys[0].Status != KeyDestroyed || info.Keys[0].Status.String() != "destroyed" {
		t.Errorf("destroyed key info %+v", info.Keys[0])
	}
	if _, err := a.Decrypt(ct2, nil); err != nil {
		t.Errorf("decrypt with the primary: %v", err)
	}

	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ks.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, f := range map[string]func() error{
		"Info":    func() error { _, err := ks.Info(); return err },
		"Rotate":  func() error { _, err := ks.Rotate(); return err },
		"Encrypt": func() error { _, err := a.Encrypt(nil, nil); return err },
		"Decrypt": func() error { _, err := a.Decrypt(ct2, nil); return err },
		"Disable": func() error { return ks.Disable(first) },
	} {
		if err := f(); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrStaleHandle) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

// ErrAny marks a step that must fail with any error.
var ErrAny = errors.New("any error")

func TestKeysetRawCannotRotate(t *testing.T) {
	ks := newKeyset(t, ChaCha20Poly1305, Raw())
	if !ks.IsRaw() || !must(ks.Info()).Raw {
		t.Fatal("Raw() keyset is not raw")
	}
	if _, err := ks.Rotate(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Rotate raw: %v", err)
	}
}

func TestKeysetWrongPrimitive(t *testing.T) {
	mac := newKeyset(t, HMACSHA256)
	if _, err := mac.AEAD(); !errors.Is(err, ErrWrongPrimitive) {
		t.Errorf("AEAD of a MAC keyset: %v", err)
	}
	if _, err := mac.Signer(); !errors.Is(err, ErrWrongPrimitive) {
		t.Errorf("Signer of a MAC keyset: %v", err)
	}
	if _, err := mac.PublicKeyBytes(0, PublicKeyRaw); !errors.Is(err, ErrWrongPrimitive) {
		t.Errorf("public key of a MAC keyset: %v", err)
	}
	if _, err := NewCipherAEAD(newKeyset(t, AES256GCM)); !errors.Is(err, ErrWrongPrimitive) {
		t.Errorf("cipher.AEAD over a managed keyset: %v", err)
	}
	if _, err := suite.NewKeyset(Algorithm(12345)); !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown algorithm: %v", err)
	}
	if _, err := suite.ImportRawKey(AES256GCM, make([]byte, 16)); err == nil {
		t.Error("AES-256-GCM accepted a 16-byte key")
	}
}

func TestKeysetPublicKey(t *testing.T) {
	tests := []struct {
		alg    Algorithm
		rawLen int
		check  func(any) bool
	}{
		{Ed25519, 32, func(p any) bool { _, ok := p.(ed25519.PublicKey); return ok }},
		{ECDSAP256, 65, func(p any) bool { _, ok := p.(*ecdsa.PublicKey); return ok }},
		{ECDSAP256P1363, 65, func(p any) bool { _, ok := p.(*ecdsa.PublicKey); return ok }},
		{X25519, 32, func(p any) bool { _, ok := p.(*ecdh.PublicKey); return ok }},
	}
	for _, tc := range tests {
		t.Run(tc.alg.String(), func(t *testing.T) {
			ks := newKeyset(t, tc.alg)
			raw := must(ks.PublicKeyBytes(0, PublicKeyRaw))
			if len(raw) != tc.rawLen {
				t.Errorf("raw public key %d bytes, want %d", len(raw), tc.rawLen)
			}
			pub := must(ks.PublicKey())
			if !tc.check(pub) {
				t.Errorf("PublicKey() is %T", pub)
			}
			if tc.alg.Primitive() != PrimitiveSignature {
				return
			}
			// Rotation: key 0 follows the primary; the old key stays exportable.
			old := must(ks.Info()).PrimaryKeyID
			must(ks.Rotate())
			if string(must(ks.PublicKeyBytes(old, PublicKeyRaw))) != string(raw) {
				t.Error("old key's public key changed")
			}
			if string(must(ks.PublicKeyBytes(0, PublicKeyRaw))) == string(raw) {
				t.Error("primary's public key did not change on rotation")
			}
			// Round trip through ImportPublicKey, DER and raw.
			for _, f := range []PublicKeyFormat{PublicKeyDER, PublicKeyRaw} {
				v, err := suite.ImportPublicKey(tc.alg, must(ks.PublicKeyBytes(0, f)))
				if err != nil {
					t.Fatalf("ImportPublicKey(format %d): %v", f, err)
				}
				v.Close()
			}
		})
	}
}
