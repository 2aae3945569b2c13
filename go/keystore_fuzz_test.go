//go:build cgo

package keyhold

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// FuzzKeysetFile feeds arbitrary bytes to the keyset file decoder
// (docs/spec/keyset.md) as a wrapped import and as a file read without a
// KEK. Invariants: no crash; every error is an *Error with a known code;
// nothing forged loads; an export round-trips and any bit flipped in it is
// refused. Seeds: the golden files (their KEK is not this one, so they
// exercise every structural check and stop at authentication).

var (
	fuzzStoreOnce sync.Once
	fuzzStoreKEK  *KEK
	fuzzStoreKS   *Keyset
	fuzzStoreDir  string
)

func fuzzStore(t testing.TB) (*KEK, *Keyset, string) {
	fuzzStoreOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyhold-fuzz-keyset-")
		if err != nil {
			panic(err)
		}
		fuzzStoreDir = dir
		fuzzStoreKEK = must(suite.OpenKEK("file:" + filepath.Join(dir, "master.key")))
		fuzzStoreKS = must(suite.NewKeyset(AES256GCM, Exportable()))
		must(fuzzStoreKS.Rotate())
		atSuiteEnd(func() {
			fuzzStoreKS.Close()
			fuzzStoreKEK.Close()
			os.RemoveAll(dir)
		})
	})
	return fuzzStoreKEK, fuzzStoreKS, fuzzStoreDir
}

func FuzzKeysetFile(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Add([]byte("KHKS\x01\x00\x00\x00\x1f"), uint32(9))
	if raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "keyset_v1.json")); err == nil {
		var doc struct {
			Vectors []struct {
				File string `json:"file"`
			} `json:"vectors"`
		}
		if json.Unmarshal(raw, &doc) == nil {
			for _, v := range doc.Vectors {
				if b, err := hex.DecodeString(v.File); err == nil {
					f.Add(b, uint32(len(b)*4))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, pos uint32) {
		kek, ks, dir := fuzzStore(t)
		imported, err := suite.ImportWrapped(data, kek)
		checkDefined(t, "import", err)
		if err == nil {
			imported.Close()
			t.Fatalf("a forged keyset of %d bytes loaded", len(data))
		}
		path := filepath.Join(dir, "fuzz.keyset")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = ReadKeysetFileInfo(path)
		checkDefined(t, "file info", err)

		blob, err := ks.ExportWrapped(kek)
		if err != nil {
			t.Fatal(err)
		}
		back, err := suite.ImportWrapped(blob, kek)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		back.Close()
		flipped, err := suite.ImportWrapped(flipBit(blob, pos), kek)
		checkDefined(t, "flipped import", err)
		if err == nil {
			flipped.Close()
			t.Fatalf("a keyset with bit %d flipped loaded", pos%uint32(len(blob)*8))
		}
	})
}
