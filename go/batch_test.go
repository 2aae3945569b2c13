package keyhold

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestBatchMixed(t *testing.T) {
	aead := newKeyset(t, AES256GCM)
	rawAEAD := newKeyset(t, ChaCha20Poly1305, Raw())
	daead := newKeyset(t, AES256SIV)
	mac := newKeyset(t, HMACSHA256)
	sig := newKeyset(t, Ed25519)
	closed := newKeyset(t, AES256GCM)
	closed.Close()

	nonce := make([]byte, 12)
	msg := []byte("batched message")
	badTag := must(must(mac.MAC()).Compute(msg))
	badTag[len(badTag)-1] ^= 1
	items := []BatchItem{
		{Keyset: aead, Op: OpAEADEncrypt, In: msg, AAD: []byte("a")},
		{Keyset: daead, Op: OpDAEADEncrypt, In: msg, AAD: []byte("d")},
		{Keyset: mac, Op: OpMACCompute, In: msg},
		{Keyset: sig, Op: OpSigSign, In: msg},
		{Keyset: rawAEAD, Op: OpAEADSealNonce, In: msg, AAD: []byte("n"), Nonce: nonce},
		{Keyset: closed, Op: OpAEADEncrypt, In: msg},           // closed keyset
		{Keyset: mac, Op: OpAEADEncrypt, In: msg},              // wrong primitive
		{Keyset: nil, Op: OpMACCompute, In: msg},               // no keyset
		{Keyset: aead, Op: OpAEADDecrypt, In: []byte("short")}, // malformed
		{Keyset: mac, Op: OpMACVerify, In: msg, Tag: badTag},   // bad tag
	}
	failed, err := suite.Batch(items)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 5 {
		t.Errorf("failed = %d, want 5", failed)
	}
	for i, it := range items[:5] {
		if it.Err != nil {
			t.Fatalf("item %d: %v", i, it.Err)
		}
	}
	wantErr := []error{ErrClosed, ErrWrongPrimitive, ErrStaleHandle, ErrMalformed, ErrAuthFailed}
	for i, it := range items[5:] {
		if !errors.Is(it.Err, wantErr[i]) {
			t.Errorf("item %d: %v, want %v", 5+i, it.Err, wantErr[i])
		}
		if len(it.Out) != 0 {
			t.Errorf("item %d: failed with output", 5+i)
		}
	}

	// The outputs are what the single calls accept.
	if pt, err := must(aead.AEAD()).Decrypt(items[0].Out, []byte("a")); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("batch AEAD output: %v", err)
	}
	if pt, err := must(daead.DAEAD()).Decrypt(items[1].Out, []byte("d")); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("batch DAEAD output: %v", err)
	}
	if err := must(mac.MAC()).Verify(msg, items[2].Out); err != nil {
		t.Errorf("batch MAC output: %v", err)
	}
	if err := must(sig.Verifier()).Verify(msg, items[3].Out); err != nil {
		t.Errorf("batch signature: %v", err)
	}
	if pt, err := must(NewCipherAEAD(rawAEAD)).Open(nil, nonce, items[4].Out, []byte("n")); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("batch seal_nonce output: %v", err)
	}

	// And the decrypt/verify ops accept them, in a second batch.
	back := []BatchItem{
		{Keyset: aead, Op: OpAEADDecrypt, In: items[0].Out, AAD: []byte("a")},
		{Keyset: daead, Op: OpDAEADDecrypt, In: items[1].Out, AAD: []byte("d")},
		{Keyset: mac, Op: OpMACVerify, In: msg, Tag: items[2].Out},
		{Keyset: sig, Op: OpSigVerify, In: msg, Tag: items[3].Out},
		{Keyset: rawAEAD, Op: OpAEADOpenNonce, In: items[4].Out, AAD: []byte("n"), Nonce: nonce},
	}
	if failed, err := suite.Batch(back); err != nil || failed != 0 {
		t.Fatalf("second batch: %d failed, %v", failed, err)
	}
	for i, it := range back {
		if it.Err != nil {
			t.Errorf("item %d: %v", i, it.Err)
		}
		if (i == 0 || i == 1 || i == 4) && !bytes.Equal(it.Out, msg) {
			t.Errorf("item %d: got %q", i, it.Out)
		}
	}
}

func TestBatchSizes(t *testing.T) {
	a := must(newKeyset(t, AES256GCM).AEAD())
	for _, n := range []int{0, 1, 64, MaxBatch, MaxBatch + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			items := make([]BatchItem, n)
			arena := make([]byte, 0, n*(16+a.Overhead()))
			for i := range items {
				pt := []byte(fmt.Sprintf("item %08d", i))
				items[i] = BatchItem{Keyset: a.Keyset(), Op: OpAEADEncrypt, In: pt, Dst: arena[len(arena):]}
				arena = arena[:len(arena)+len(pt)+a.Overhead()]
			}
			failed, err := suite.Batch(items)
			if err != nil || failed != 0 {
				t.Fatalf("%d failed, %v", failed, err)
			}
			for i, it := range items {
				pt, err := a.Decrypt(it.Out, nil)
				if err != nil || string(pt) != fmt.Sprintf("item %08d", i) {
					t.Fatalf("item %d: %v", i, err)
				}
				if n > 0 && &it.Out[0] != &it.Dst[:1][0] {
					t.Fatalf("item %d: output not written into Dst's capacity", i)
				}
			}
		})
	}
}

func TestBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	a := must(newKeyset(t, AES256GCM).AEAD())
	pt := make([]byte, 256)
	items := make([]BatchItem, 64)
	outs := make([][]byte, len(items))
	for i := range outs {
		outs[i] = make([]byte, 0, len(pt)+a.Overhead())
	}
	allocs := testing.AllocsPerRun(50, func() {
		for i := range items {
			items[i] = BatchItem{Keyset: a.Keyset(), Op: OpAEADEncrypt, In: pt, Dst: outs[i]}
		}
		if failed, err := suite.Batch(items); err != nil || failed != 0 {
			t.Fatal(failed, err)
		}
	})
	if allocs != 0 {
		t.Errorf("Batch allocates %v times per call in steady state, want 0", allocs)
	}
}

// TestBatchStagingAndPinning covers both ways a buffer reaches the engine
// (small ones copied through a C arena, large ones pinned in place) and the
// arena running full.
func TestBatchStagingAndPinning(t *testing.T) {
	a := must(newKeyset(t, XChaCha20Poly1305).AEAD())
	m := must(newKeyset(t, HMACSHA512).MAC())
	sizes := []int{0, 1, 15, 2047, 2048, 2049, 4096, 1 << 17}
	for i := 0; i < 700; i++ { // 700 * (2 KiB in + 2 KiB out) overflows the 1 MiB arena
		sizes = append(sizes, 2000)
	}
	items := make([]BatchItem, 0, 2*len(sizes))
	pts := make([][]byte, len(sizes))
	shared := randBytes(t, 1<<16) // one object, many sub-slices: pinned once
	for i, n := range sizes {
		if n <= len(shared) && i%2 == 1 {
			pts[i] = shared[i%7 : i%7+n]
		} else {
			pts[i] = randBytes(t, n)
		}
		items = append(items,
			BatchItem{Keyset: a.Keyset(), Op: OpAEADEncrypt, In: pts[i], AAD: pts[i][:min(n, 9)]},
			BatchItem{Keyset: m.ks, Op: OpMACCompute, In: pts[i]})
	}
	if failed, err := suite.Batch(items); err != nil || failed != 0 {
		t.Fatalf("%d failed, %v", failed, err)
	}
	back := make([]BatchItem, 0, len(items))
	for i := range sizes {
		enc, tag := items[2*i], items[2*i+1]
		back = append(back,
			BatchItem{Keyset: a.Keyset(), Op: OpAEADDecrypt, In: enc.Out, AAD: pts[i][:min(len(pts[i]), 9)]},
			BatchItem{Keyset: m.ks, Op: OpMACVerify, In: pts[i], Tag: tag.Out})
	}
	if failed, err := suite.Batch(back); err != nil || failed != 0 {
		t.Fatalf("decrypt batch: %d failed, %v", failed, err)
	}
	for i := range sizes {
		if !bytes.Equal(back[2*i].Out, pts[i]) {
			t.Fatalf("item %d (%d bytes): round trip mismatch", i, sizes[i])
		}
	}
}
