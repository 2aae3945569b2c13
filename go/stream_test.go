package keyhold

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// streamVector is one entry of testdata/golden/stream_v1.json, generated
// independently by scripts/gen-stream-vectors.py (pyca/cryptography).
type streamVector struct {
	Alg, Name                         string
	Raw                               bool
	Key, AAD, Plaintext, Stream, Salt string
	KeyID                             uint32 `json:"key_id"`
	SegmentSize                       int    `json:"segment_size"`
}

func algByName(t testing.TB, name string) Algorithm {
	for _, a := range aeadAlgs {
		if a.String() == name {
			return a
		}
	}
	t.Fatalf("unknown algorithm %q", name)
	return 0
}

func TestStreamGoldenVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "stream_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Vectors []streamVector }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range doc.Vectors {
		if !v.Raw {
			continue // managed vectors need a chosen key id: tests/stream_test.cc
		}
		t.Run(v.Alg+"/"+v.Name, func(t *testing.T) {
			a := must(importRaw(t, algByName(t, v.Alg), unhex(t, v.Key)).AEAD())
			stream, pt, aad := unhex(t, v.Stream), unhex(t, v.Plaintext), unhex(t, v.AAD)
			r := must(a.NewDecryptingReader(bytes.NewReader(stream), aad))
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("sequential: err %v, match %v", err, bytes.Equal(got, pt))
			}
			ra := must(a.NewReaderAt(bytes.NewReader(stream), int64(len(stream)), aad))
			defer ra.Close()
			if ra.Size() != int64(len(pt)) {
				t.Fatalf("Size() = %d, want %d", ra.Size(), len(pt))
			}
			all := make([]byte, len(pt))
			if n, err := ra.ReadAt(all, 0); n != len(pt) || (err != nil && err != io.EOF) || !bytes.Equal(all, pt) {
				t.Fatalf("ReadAt: %d, %v", n, err)
			}
			checked++
		})
	}
	if checked < 16 {
		t.Fatalf("checked %d raw vectors, want at least 16", checked)
	}
}

// encryptStream encrypts pt with the given write pattern.
func encryptStream(t testing.TB, a *AEAD, pt, aad []byte, seg int, pattern string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var opts []StreamOption
	if seg != 0 {
		opts = append(opts, WithSegmentSize(seg))
	}
	w, err := a.NewEncryptingWriter(&buf, aad, opts...)
	if err != nil {
		t.Fatal(err)
	}
	switch pattern {
	case "one-write":
		must(w.Write(pt))
	case "small-writes":
		rng := rand.New(rand.NewPCG(uint64(len(pt)), 1))
		for rest := pt; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(3*max(seg, 64)))
			must(w.Write(rest[:n]))
			rest = rest[n:]
		}
	case "copy":
		must(io.Copy(w, bytes.NewReader(pt))) // ReadFrom
	default:
		t.Fatalf("pattern %q", pattern)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	return buf.Bytes()
}

// readStream decrypts with one of the reading patterns and returns what was
// read before the first error.
func readStream(a *AEAD, ct, aad []byte, pattern string) ([]byte, error) {
	r, err := a.NewDecryptingReader(bytes.NewReader(ct), aad)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out bytes.Buffer
	switch pattern {
	case "readall":
		b, err := io.ReadAll(r) // small reads: through the reader's buffer
		return b, err
	case "writeto":
		_, err = r.WriteTo(&out)
	case "big-reads":
		buf := make([]byte, 1<<20) // straight into the caller's buffer
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				return out.Bytes(), nil
			}
			if err != nil {
				return out.Bytes(), err
			}
		}
	}
	return out.Bytes(), err
}

var readPatterns = []string{"readall", "writeto", "big-reads"}

func TestStreamRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 63, 64, 65, 1000, 256<<10 - 1, 256 << 10, 256<<10 + 1, 1<<20 + 12345}
	for _, alg := range aeadAlgs {
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/raw=%v", alg, raw), func(t *testing.T) {
				var opts []KeysetOption
				if raw {
					opts = append(opts, Raw())
				}
				a := must(newKeyset(t, alg, opts...).AEAD())
				for _, n := range sizes {
					for _, seg := range []int{0, 64, 1000} {
						if seg == 64 && n > 1<<16 {
							continue // many tiny segments: slow, nothing new
						}
						pt := randBytes(t, n)
						aad := randBytes(t, n%13)
						for _, wp := range []string{"one-write", "small-writes", "copy"} {
							ct := encryptStream(t, a, pt, aad, seg, wp)
							s := seg
							if s == 0 {
								s = DefaultSegmentSize
							}
							segs := max(1, (n+s-1)/s)
							if len(ct) != StreamHeaderLen+n+segs*StreamTagLen {
								t.Fatalf("n=%d seg=%d %s: stream length %d", n, seg, wp, len(ct))
							}
							for _, rp := range readPatterns {
								got, err := readStream(a, ct, aad, rp)
								if err != nil || !bytes.Equal(got, pt) {
									t.Fatalf("n=%d seg=%d %s/%s: err %v, match %v", n, seg, wp, rp, err, bytes.Equal(got, pt))
								}
							}
						}
					}
				}
			})
		}
	}
}

func TestStreamSurvivesRotation(t *testing.T) {
	ks := newKeyset(t, AES256GCM)
	a := must(ks.AEAD())
	pt := randBytes(t, 5000)
	ct := encryptStream(t, a, pt, nil, 1024, "one-write")
	must(ks.Rotate())
	if got, err := readStream(a, ct, nil, "readall"); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestStreamWriterOptions(t *testing.T) {
	a := must(newKeyset(t, ChaCha20Poly1305).AEAD())
	for _, n := range []int{MinSegmentSize - 1, MaxSegmentSize + 1, -5} {
		if _, err := a.NewEncryptingWriter(io.Discard, nil, WithSegmentSize(n)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("segment size %d: %v, want ErrInvalidArgument", n, err)
		}
	}
	mac := newKeyset(t, HMACSHA256)
	if _, err := mac.AEAD(); !errors.Is(err, ErrWrongPrimitive) {
		t.Fatalf("MAC keyset: %v", err)
	}
}

// ------------------------------------------------------------ adversarial

// attack is a four-segment stream (64, 64, 64, 20 bytes) to cut and splice.
type attack struct {
	a       *AEAD
	pt, aad []byte
	ct      []byte
}

const atkSeg = 64

func newAttack(t *testing.T) *attack {
	a := must(newKeyset(t, AES256GCM).AEAD())
	pt := randBytes(t, 3*atkSeg+20)
	aad := []byte("ctx")
	return &attack{a: a, pt: pt, aad: aad, ct: encryptStream(t, a, pt, aad, atkSeg, "one-write")}
}

func (k *attack) segment(ct []byte, i int) []byte {
	off := StreamHeaderLen + i*(atkSeg+StreamTagLen)
	return ct[off:min(off+atkSeg+StreamTagLen, len(ct))]
}

func (k *attack) assemble(header []byte, segs ...[]byte) []byte {
	out := append([]byte{}, header[:StreamHeaderLen]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// expectFailure decrypts bad with every reader and checks the error and
// that whatever plaintext was handed out is a prefix of the original of
// whole authenticated segments before the damage at byte damagedSegment.
func (k *attack) expectFailure(t *testing.T, name string, bad []byte, aad []byte, want error, damagedSegment int) {
	t.Helper()
	for _, rp := range readPatterns {
		got, err := readStream(k.a, bad, aad, rp)
		if !errors.Is(err, want) {
			t.Errorf("%s/%s: err = %v, want %v", name, rp, err, want)
		}
		var ke *Error
		if err != nil && !errors.As(err, &ke) {
			t.Errorf("%s/%s: error %T is not a *keyhold.Error", name, rp, err)
		}
		if len(got) > damagedSegment*atkSeg || !bytes.Equal(got, k.pt[:len(got)]) {
			t.Errorf("%s/%s: handed out %d bytes, beyond the authenticated prefix (%d)", name, rp, len(got), damagedSegment*atkSeg)
		}
	}
	if want == ErrAuthFailed && len(bad) >= StreamHeaderLen {
		// Random access: opening fails, or reading the damaged part does.
		ra, err := k.a.NewReaderAt(bytes.NewReader(bad), int64(len(bad)), aad)
		if err == nil {
			buf := make([]byte, ra.Size())
			_, err = ra.ReadAt(buf, 0)
			ra.Close()
		}
		if !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s/ReaderAt: err = %v, want ErrAuthFailed", name, err)
		}
	}
}

func TestStreamTruncation(t *testing.T) {
	k := newAttack(t)
	for segs := 0; segs < 4; segs++ {
		cut := k.ct[:StreamHeaderLen+segs*(atkSeg+StreamTagLen)]
		k.expectFailure(t, fmt.Sprintf("boundary after %d segments", segs), cut, k.aad, ErrAuthFailed, segs)
	}
	for n := StreamHeaderLen; n < len(k.ct); n += 7 {
		k.expectFailure(t, fmt.Sprintf("cut at %d", n), k.ct[:n], k.aad, ErrAuthFailed, (n-StreamHeaderLen)/(atkSeg+StreamTagLen))
	}
	for _, n := range []int{0, 1, 6, StreamHeaderLen - 1} {
		k.expectFailure(t, fmt.Sprintf("inside the header at %d", n), k.ct[:n], k.aad, ErrMalformed, 0)
	}
}

func TestStreamSplicing(t *testing.T) {
	k := newAttack(t)
	s := func(i int) []byte { return k.segment(k.ct, i) }
	other := encryptStream(t, k.a, k.pt, k.aad, atkSeg, "one-write") // same key, aad, plaintext
	cases := []struct {
		name    string
		stream  []byte
		damaged int
	}{
		{"swapped 0 and 1", k.assemble(k.ct, s(1), s(0), s(2), s(3)), 0},
		{"swapped 1 and 2", k.assemble(k.ct, s(0), s(2), s(1), s(3)), 1},
		{"duplicated 0", k.assemble(k.ct, s(0), s(0), s(2), s(3)), 1},
		{"dropped 1", k.assemble(k.ct, s(0), s(2), s(3)), 1},
		{"last repeated", k.assemble(k.ct, s(0), s(1), s(2), s(3), s(3)), 3},
		{"byte appended", append(append([]byte{}, k.ct...), 0), 3},
		{"segment 2 from another stream", k.assemble(k.ct, s(0), s(1), k.segment(other, 2), s(3)), 2},
		{"last from another stream", k.assemble(k.ct, s(0), s(1), s(2), k.segment(other, 3)), 3},
		{"other header", k.assemble(other, s(0), s(1), s(2), s(3)), 0},
	}
	for _, c := range cases {
		k.expectFailure(t, c.name, c.stream, k.aad, ErrAuthFailed, c.damaged)
	}
}

func TestStreamBitFlips(t *testing.T) {
	k := newAttack(t)
	for i := 0; i < len(k.ct); i++ {
		bad := append([]byte{}, k.ct...)
		bad[i] ^= 1 << (i % 8)
		var want error = ErrAuthFailed
		damaged := 0
		switch {
		case i == 0:
			want = ErrUnsupported
		case i == 1:
			want = ErrMalformed
		case i < 6:
			want = ErrUnknownKey
		case i < 10:
			// The segment size: out of range (malformed), or in range
			// with segments that no longer line up.
			_, err := readStream(k.a, bad, k.aad, "readall")
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthFailed) {
				t.Errorf("byte %d: %v", i, err)
			}
			continue
		case i >= StreamHeaderLen:
			damaged = (i - StreamHeaderLen) / (atkSeg + StreamTagLen)
		}
		k.expectFailure(t, fmt.Sprintf("bit flip in byte %d", i), bad, k.aad, want, damaged)
	}
}

func TestStreamWrongKeyAadAndEmpty(t *testing.T) {
	k := newAttack(t)
	k.expectFailure(t, "wrong aad", k.ct, []byte("ctX"), ErrAuthFailed, 0)
	k.expectFailure(t, "no aad", k.ct, nil, ErrAuthFailed, 0)
	other := must(newKeyset(t, AES256GCM).AEAD())
	if _, err := other.NewDecryptingReader(bytes.NewReader(k.ct), k.aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("another managed keyset: %v, want ErrUnknownKey", err)
	}
	// Raw keysets name key 0: another raw key only fails authentication.
	r1 := must(importRaw(t, AES256GCM, randBytes(t, 32)).AEAD())
	r2 := must(importRaw(t, AES256GCM, randBytes(t, 32)).AEAD())
	ct := encryptStream(t, r1, k.pt, k.aad, atkSeg, "one-write")
	k2 := &attack{a: r2, pt: k.pt, aad: k.aad, ct: ct}
	k2.expectFailure(t, "wrong raw key", ct, k.aad, ErrAuthFailed, 0)
	// Empty streams: valid, and a header alone (cut before its segment).
	empty := encryptStream(t, k.a, nil, k.aad, 0, "one-write")
	if len(empty) != StreamHeaderLen+StreamTagLen {
		t.Fatalf("empty stream is %d bytes", len(empty))
	}
	for _, rp := range readPatterns {
		if got, err := readStream(k.a, empty, k.aad, rp); err != nil || len(got) != 0 {
			t.Fatalf("empty/%s: %d bytes, %v", rp, len(got), err)
		}
	}
	k.expectFailure(t, "header only", empty[:StreamHeaderLen], k.aad, ErrAuthFailed, 0)
	k.expectFailure(t, "nothing", nil, k.aad, ErrMalformed, 0)
}

// ------------------------------------------------------------ random access

func TestStreamReaderAtMatchesSequentialReader(t *testing.T) {
	for _, seg := range []int{64, 1000, 0} {
		t.Run(fmt.Sprint("seg=", seg), func(t *testing.T) {
			a := must(newKeyset(t, ChaCha20Poly1305).AEAD())
			n := 300_000 + seg
			pt := randBytes(t, n)
			ct := encryptStream(t, a, pt, []byte("ra"), seg, "one-write")
			seq, err := readStream(a, ct, []byte("ra"), "writeto")
			if err != nil || !bytes.Equal(seq, pt) {
				t.Fatal("sequential read failed")
			}
			ra := must(a.NewReaderAt(bytes.NewReader(ct), int64(len(ct)), []byte("ra")))
			defer ra.Close()
			if ra.Size() != int64(n) {
				t.Fatalf("Size() = %d", ra.Size())
			}
			var wg sync.WaitGroup
			for g := range 4 { // io.ReaderAt: parallel calls are allowed
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), uint64(seg)))
					for range 300 {
						off := rng.Int64N(int64(n) + 100)
						ln := rng.IntN(3 * max(seg, DefaultSegmentSize))
						buf := make([]byte, ln)
						got, err := ra.ReadAt(buf, off)
						wantN := max(0, min(int64(ln), int64(n)-off))
						if int64(got) != wantN {
							t.Errorf("ReadAt(%d, %d) = %d bytes, want %d", ln, off, got, wantN)
							return
						}
						if wantN < int64(ln) && err != io.EOF {
							t.Errorf("ReadAt(%d, %d) short without io.EOF: %v", ln, off, err)
							return
						}
						if wantN == int64(ln) && err != nil {
							t.Errorf("ReadAt(%d, %d): %v", ln, off, err)
							return
						}
						if got > 0 && !bytes.Equal(buf[:got], seq[off:off+int64(got)]) {
							t.Errorf("ReadAt(%d, %d): bytes differ from the sequential reader", ln, off)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

func TestStreamReaderAtTamperedSegmentOnlyFailsReadsOfIt(t *testing.T) {
	k := newAttack(t)
	bad := append([]byte{}, k.ct...)
	bad[StreamHeaderLen+1*(atkSeg+StreamTagLen)+3] ^= 0x80 // segment 1
	ra := must(k.a.NewReaderAt(bytes.NewReader(bad), int64(len(bad)), k.aad))
	defer ra.Close()
	buf := make([]byte, 10)
	if _, err := ra.ReadAt(buf, 5); err != nil || !bytes.Equal(buf, k.pt[5:15]) {
		t.Fatalf("segment 0: %v", err)
	}
	if _, err := ra.ReadAt(buf, 2*atkSeg+1); err != nil || !bytes.Equal(buf, k.pt[2*atkSeg+1:2*atkSeg+11]) {
		t.Fatalf("segment 2: %v", err)
	}
	if n, err := ra.ReadAt(buf, atkSeg+60); !errors.Is(err, ErrAuthFailed) || n != 0 {
		t.Fatalf("segment 1: %d, %v", n, err)
	}
	if _, err := ra.ReadAt(buf, -1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative offset: %v", err)
	}
}

func TestStreamClosedHandles(t *testing.T) {
	a := must(newKeyset(t, AES256GCM).AEAD())
	var buf bytes.Buffer
	w := must(a.NewEncryptingWriter(&buf, nil))
	must(w.Write([]byte("x")))
	must(0, w.Close())
	if _, err := w.Write([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	r := must(a.NewDecryptingReader(bytes.NewReader(buf.Bytes()), nil))
	must(0, r.Close())
	must(0, r.Close())
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}
