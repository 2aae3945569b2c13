package keyhold

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
)

// The fuzz targets feed arbitrary bytes to every decrypt, open and verify
// path through the Go layer and the engine. Invariants: no crash; every
// error is an *Error with a known code; nothing forged authenticates; and
// what keyhold produced round-trips, while any bit flipped in it fails.
// Seeds: f.Add below plus testdata/fuzz/<Name>/.

type fuzzKeysets struct {
	aead, aeadRaw, daead, mac, macRaw, ed, ecdsa, p1363 *Keyset
	cipher                                              *cipherAEAD
}

var (
	fuzzOnce sync.Once
	fuzzKS   fuzzKeysets
)

func fuzzKeysetsGet(t testing.TB) *fuzzKeysets {
	fuzzOnce.Do(func() {
		gen := func(alg Algorithm, opts ...KeysetOption) *Keyset {
			ks, err := suite.NewKeyset(alg, opts...)
			if err != nil {
				panic(err)
			}
			return ks
		}
		fuzzKS = fuzzKeysets{
			aead:    gen(AES256GCM),
			aeadRaw: gen(ChaCha20Poly1305, Raw()),
			daead:   gen(AES256SIV),
			mac:     gen(HMACSHA256),
			macRaw:  gen(HMACSHA512, Raw()),
			ed:      gen(Ed25519),
			ecdsa:   gen(ECDSAP256),
			p1363:   gen(ECDSAP256P1363),
		}
		fuzzKS.cipher = must(NewCipherAEAD(fuzzKS.aeadRaw)).(*cipherAEAD)
		atSuiteEnd(func() {
			for _, ks := range []*Keyset{fuzzKS.aead, fuzzKS.aeadRaw, fuzzKS.daead, fuzzKS.mac,
				fuzzKS.macRaw, fuzzKS.ed, fuzzKS.ecdsa, fuzzKS.p1363} {
				ks.Close()
			}
		})
	})
	return &fuzzKS
}

// checkDefined fails unless err is nil or an *Error with a known code.
func checkDefined(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ke *Error
	if !errors.As(err, &ke) || ke.Code == StatusOK || int(ke.Code) >= len(statusNames) {
		t.Fatalf("%s: undefined error %v", what, err)
	}
	if errors.Is(err, ErrInternal) {
		t.Fatalf("%s: engine reports an internal error: %v", what, err)
	}
}

// flipBit returns a copy of b with bit (pos mod 8*len) flipped.
func flipBit(b []byte, pos uint32) []byte {
	c := bytes.Clone(b)
	p := int(pos % uint32(len(c)*8))
	c[p/8] ^= 1 << (p % 8)
	return c
}

func FuzzAEADDecrypt(f *testing.F) {
	f.Add([]byte{}, []byte{}, uint32(0))
	f.Add([]byte("\x01\x01\x00\x00\x00\x01short"), []byte("aad"), uint32(7))
	f.Add(bytes.Repeat([]byte{0x01}, 64), []byte{}, uint32(300))
	f.Fuzz(func(t *testing.T, data, aad []byte, pos uint32) {
		ks := fuzzKeysetsGet(t)
		for _, k := range []*Keyset{ks.aead, ks.aeadRaw} {
			a := must(k.AEAD())
			// Arbitrary bytes do not decrypt.
			pt, err := a.Decrypt(data, aad)
			checkDefined(t, "decrypt", err)
			if err == nil {
				t.Fatalf("%v: forged ciphertext of %d bytes authenticated (%d plaintext bytes)", k.alg, len(data), len(pt))
			}
			// keyhold's own ciphertext of data round-trips; a flipped bit fails.
			ct, err := a.Encrypt(data, aad)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := a.Open(data[:0:0], ct, aad); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%v: round trip: %v", k.alg, err)
			}
			if _, err := a.Decrypt(flipBit(ct, pos), aad); err == nil {
				t.Fatalf("%v: bit %d flipped still authenticates", k.alg, pos%uint32(len(ct)*8))
			} else {
				checkDefined(t, "decrypt flipped", err)
			}
		}
		// The cipher.AEAD adapter with the input split into nonce || ct.
		c := ks.cipher
		if len(data) >= c.NonceSize() {
			_, err := c.Open(nil, data[:c.NonceSize()], data[c.NonceSize():], aad)
			checkDefined(t, "cipher open", err)
			if err == nil {
				t.Fatal("forged cipher.AEAD ciphertext authenticated")
			}
		}
	})
}

func FuzzDAEADDecrypt(f *testing.F) {
	f.Add([]byte{}, []byte{}, uint32(0))
	f.Add([]byte("\x01\x10\x00\x00\x00\x02sixteen byte siv"), []byte("ad"), uint32(9))
	f.Add(bytes.Repeat([]byte{0xff}, 40), []byte("x"), uint32(77))
	f.Fuzz(func(t *testing.T, data, aad []byte, pos uint32) {
		d := must(fuzzKeysetsGet(t).daead.DAEAD())
		_, err := d.Decrypt(data, aad)
		checkDefined(t, "decrypt", err)
		if err == nil {
			t.Fatal("forged DAEAD ciphertext authenticated")
		}
		ct, err := d.Encrypt(data, aad)
		if err != nil {
			checkDefined(t, "encrypt", err)
			t.Fatalf("encrypt %d bytes: %v", len(data), err)
		}
		if again := must(d.Encrypt(data, aad)); !bytes.Equal(again, ct) {
			t.Fatal("DAEAD is not deterministic")
		}
		if got, err := d.Decrypt(ct, aad); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %v", err)
		}
		if _, err := d.Decrypt(flipBit(ct, pos), aad); err == nil {
			t.Fatal("flipped bit still authenticates")
		}
	})
}

func FuzzMACVerify(f *testing.F) {
	f.Add([]byte{}, []byte{}, uint32(0))
	f.Add([]byte("message"), []byte("\x01\x20\x00\x00\x00\x01tag-bytes-tag-bytes-tag-bytes-ta"), uint32(5))
	f.Add([]byte("m"), bytes.Repeat([]byte{0}, 10), uint32(80))
	f.Fuzz(func(t *testing.T, msg, tag []byte, pos uint32) {
		ks := fuzzKeysetsGet(t)
		for _, k := range []*Keyset{ks.mac, ks.macRaw} {
			m := must(k.MAC())
			err := m.Verify(msg, tag)
			checkDefined(t, "verify", err)
			if err == nil {
				t.Fatalf("%v: forged %d-byte tag verified", k.alg, len(tag))
			}
			good := must(m.Compute(msg))
			if err := m.Verify(msg, good); err != nil {
				t.Fatalf("own tag: %v", err)
			}
			if err := m.Verify(msg, flipBit(good, pos)); err == nil {
				t.Fatal("flipped tag verified")
			}
		}
	})
}

func FuzzSigVerify(f *testing.F) {
	f.Add([]byte{}, []byte{}, uint32(0))
	f.Add([]byte("msg"), bytes.Repeat([]byte{0x11}, 64), uint32(3))
	f.Add([]byte("msg"), []byte("\x30\x44\x02\x20"), uint32(1))
	f.Add([]byte("msg"), []byte("\x01\x30\x00\x00\x00\x01"), uint32(2))
	f.Fuzz(func(t *testing.T, msg, sig []byte, pos uint32) {
		ks := fuzzKeysetsGet(t)
		for _, k := range []*Keyset{ks.ed, ks.ecdsa, ks.p1363} {
			v := must(k.Verifier())
			for name, err := range map[string]error{
				"verify":       v.Verify(msg, sig),
				"verify plain": v.VerifyPlain(msg, sig),
			} {
				checkDefined(t, name, err)
				if err == nil {
					t.Fatalf("%v: %s accepted a forged signature", k.alg, name)
				}
			}
			s := must(k.Signer())
			good := must(s.SignWithHeader(msg))
			if err := v.Verify(msg, good); err != nil {
				t.Fatalf("%v: own signature: %v", k.alg, err)
			}
			if err := v.Verify(msg, flipBit(good, pos)); err == nil {
				t.Fatalf("%v: flipped signature verified", k.alg)
			}
		}
		// Plain Ed25519 signatures agree with crypto/ed25519 on arbitrary input.
		pub := must(ks.ed.PublicKey()).(ed25519.PublicKey)
		v := must(ks.ed.Verifier())
		if (v.VerifyPlain(msg, sig) == nil) != ed25519.Verify(pub, msg, sig) {
			t.Fatal("keyhold and crypto/ed25519 disagree")
		}
	})
}

// FuzzBatch decodes arbitrary bytes into a batch of operations (forged and
// genuine inputs, closed and nil keysets) and checks each item against the
// single call.
func FuzzBatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 5, 'h', 'e', 'l', 'l', 'o', 1, 1, 0, 2, 2, 3, 'a', 'b', 'c'})
	f.Add(bytes.Repeat([]byte{7, 3, 40}, 30))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks := fuzzKeysetsGet(t)
		keysets := []*Keyset{ks.aead, ks.aeadRaw, ks.daead, ks.mac, ks.macRaw, ks.ed, ks.ecdsa, nil}
		ops := []Op{OpAEADEncrypt, OpAEADDecrypt, OpDAEADEncrypt, OpDAEADDecrypt, OpMACCompute,
			OpMACVerify, OpSigSign, OpSigVerify, OpAEADSealNonce, OpAEADOpenNonce, Op(0), Op(99)}
		var items []BatchItem
		for len(data) >= 3 && len(items) < 64 {
			op, k, n := ops[int(data[0])%len(ops)], keysets[int(data[1])%len(keysets)], int(data[2])
			data = data[3:]
			n = min(n, len(data))
			in := data[:n]
			data = data[n:]
			items = append(items, BatchItem{Keyset: k, Op: op, In: in, AAD: in[:n/2], Tag: in[n/2:],
				Nonce: in[:min(n, 12)]})
		}
		failed, err := suite.Batch(items)
		if err != nil {
			t.Fatal(err)
		}
		nfailed := 0
		for i, it := range items {
			checkDefined(t, "batch item", it.Err)
			if it.Err != nil {
				nfailed++
				if len(it.Out) != 0 {
					t.Fatalf("item %d failed with output", i)
				}
				continue
			}
			// Whatever succeeded must be genuine.
			switch it.Op {
			case OpAEADDecrypt, OpDAEADDecrypt, OpMACVerify, OpSigVerify, OpAEADOpenNonce:
				t.Fatalf("item %d: forged input accepted by op %d", i, it.Op)
			case OpAEADEncrypt:
				if pt, err := must(it.Keyset.AEAD()).Decrypt(it.Out, it.AAD); err != nil || !bytes.Equal(pt, it.In) {
					t.Fatalf("item %d: batch ciphertext does not decrypt: %v", i, err)
				}
			case OpDAEADEncrypt:
				if ct := must(must(it.Keyset.DAEAD()).Encrypt(it.In, it.AAD)); !bytes.Equal(ct, it.Out) {
					t.Fatalf("item %d: batch and single DAEAD differ", i)
				}
			case OpMACCompute:
				if tag := must(must(it.Keyset.MAC()).Compute(it.In)); !bytes.Equal(tag, it.Out) {
					t.Fatalf("item %d: batch and single MAC differ", i)
				}
			case OpSigSign:
				if err := must(it.Keyset.Verifier()).Verify(it.In, it.Out); err != nil {
					t.Fatalf("item %d: batch signature does not verify: %v", i, err)
				}
			case OpAEADSealNonce:
				if ct := ks.cipher.Seal(nil, it.Nonce, it.In, it.AAD); !bytes.Equal(ct, it.Out) {
					t.Fatalf("item %d: batch and single seal_nonce differ", i)
				}
			}
		}
		if nfailed != failed {
			t.Fatalf("Batch reported %d failed, items say %d", failed, nfailed)
		}
	})
}

// FuzzImportPublicKey feeds arbitrary bytes to the public-key parsers.
func FuzzImportPublicKey(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{4}, 65))
	f.Add([]byte("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00" + string(bytes.Repeat([]byte{9}, 32))))
	f.Fuzz(func(t *testing.T, pub []byte) {
		for _, alg := range []Algorithm{Ed25519, ECDSAP256, ECDSAP256P1363} {
			ks, err := suite.ImportPublicKey(alg, pub)
			checkDefined(t, "import", err)
			if err != nil {
				continue
			}
			v := must(ks.Verifier())
			if err := v.VerifyPlain([]byte("m"), bytes.Repeat([]byte{1}, 64)); err == nil {
				t.Fatalf("%v: arbitrary signature verified under an arbitrary key", alg)
			}
			ks.Close()
		}
	})
}
