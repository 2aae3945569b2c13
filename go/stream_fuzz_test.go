package keyhold

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzStreamReader feeds arbitrary bytes to the decrypting reader and the
// random-access reader of one raw key: no panic, only *Error failures, and
// whatever decrypts must decrypt the same through both.
func FuzzStreamReader(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	e := suite
	ks, err := e.ImportRawKey(AES256GCM, key)
	if err != nil {
		f.Fatal(err)
	}
	atSuiteEnd(func() { ks.Close() })
	a, err := ks.AEAD()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 10, 64, 200} {
		var buf bytes.Buffer
		w := must(a.NewEncryptingWriter(&buf, nil, WithSegmentSize(64)))
		must(w.Write(bytes.Repeat([]byte{1}, n)))
		must(0, w.Close())
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		seq, err := readStream(a, in, nil, "readall")
		var ke *Error
		if err != nil && !errors.As(err, &ke) {
			t.Fatalf("error %T %v is not a *keyhold.Error", err, err)
		}
		ra, rerr := a.NewReaderAt(bytes.NewReader(in), int64(len(in)), nil)
		if rerr != nil {
			if err == nil {
				t.Fatalf("sequential reader accepted what NewReaderAt refused: %v", rerr)
			}
			return
		}
		defer ra.Close()
		all := make([]byte, ra.Size())
		n, rerr := ra.ReadAt(all, 0)
		if (rerr == nil || rerr == io.EOF) != (err == nil) {
			t.Fatalf("sequential %v, random access %v", err, rerr)
		}
		if err == nil && !bytes.Equal(all[:n], seq) {
			t.Fatal("the two readers disagree")
		}
	})
}
