//go:build cgo

package keyhold

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The golden keyset files of docs/spec/keyset.md, generated independently
// by scripts/gen-keyset-golden.py and checked here through the Go API (and
// in tests/keystore_golden_test.cc through the C ABI). They must load
// forever.

type goldenKeyset struct {
	Name     string `json:"name"`
	Alg      string `json:"alg"`
	KEKKind  string `json:"kek_kind"`
	Flags    uint32 `json:"flags"`
	Primary  uint32 `json:"primary"`
	KeysetID string `json:"keyset_id"`
	KEK      string `json:"kek"`
	File     string `json:"file"`
	Status   string `json:"status"`
	Keys     []struct {
		ID       uint32 `json:"id"`
		Status   string `json:"status"`
		Created  uint64 `json:"created"`
		UseCount uint64 `json:"use_count"`
	} `json:"keys"`
	Check struct {
		Kind   string `json:"kind"`
		Msg    string `json:"msg"`
		AAD    string `json:"aad"`
		Output string `json:"output"`
	} `json:"check"`
}

func loadGoldenKeysets(t *testing.T) (valid, invalid []goldenKeyset) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "keyset_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion int            `json:"format_version"`
		Vectors       []goldenKeyset `json:"vectors"`
		Invalid       []goldenKeyset `json:"invalid"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != 1 || len(doc.Vectors) < 12 || len(doc.Invalid) < 17 {
		t.Fatalf("golden file: version %d, %d vectors, %d invalid", doc.FormatVersion, len(doc.Vectors), len(doc.Invalid))
	}
	return doc.Vectors, doc.Invalid
}

// goldenKEK opens the vector's KEK the way its file says it was stored.
func goldenKEK(t *testing.T, v goldenKeyset, dir string) *KEK {
	t.Helper()
	if v.KEKKind == "env" {
		t.Setenv("KH_GO_GOLDEN_KEK", v.KEK)
		return openKEK(t, "env:KH_GO_GOLDEN_KEK")
	}
	path := filepath.Join(dir, v.Name+".key")
	if err := os.WriteFile(path, []byte(v.KEK), 0o600); err != nil {
		t.Fatal(err)
	}
	return openKEK(t, "file:"+path)
}

var goldenKeyStatus = map[string]KeyStatus{"enabled": KeyEnabled, "disabled": KeyDisabled, "destroyed": KeyDestroyed}

func TestKeystoreGolden(t *testing.T) {
	valid, _ := loadGoldenKeysets(t)
	for _, v := range valid {
		t.Run(v.Name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, v.Name+".keyset")
			if err := os.WriteFile(path, unhex(t, v.File), 0o600); err != nil {
				t.Fatal(err)
			}
			info, err := ReadKeysetFileInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			kind := v.KEKKind
			if info.Version != 1 || info.Algorithm.String() != v.Alg || info.Primary != v.Primary ||
				info.KeysetID != v.KeysetID || info.Exportable != (v.Flags&2 != 0) || info.KEKKind != kind ||
				len(info.Keys) != len(v.Keys) {
				t.Fatalf("file info %+v", info)
			}
			for i, k := range v.Keys {
				got := info.Keys[i]
				created := time.Unix(int64(min(k.Created, 1<<63-1)), 0).UTC()
				if got.ID != k.ID || got.Status != goldenKeyStatus[k.Status] || !got.Created.Equal(created) ||
					got.UseCount != k.UseCount {
					t.Errorf("key %d: %+v, want %+v", i, got, k)
				}
			}

			ks := loadKeyset(t, path, goldenKEK(t, v, dir))
			if ks.Algorithm().String() != v.Alg {
				t.Fatalf("algorithm %v", ks.Algorithm())
			}
			msg, aad, want := unhex(t, v.Check.Msg), unhex(t, v.Check.AAD), unhex(t, v.Check.Output)
			var got []byte
			switch v.Check.Kind {
			case "aead_decrypt":
				pt, err := must(ks.AEAD()).Decrypt(want, aad)
				if err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("decrypt: %v", err)
				}
				return
			case "daead_encrypt":
				got, err = must(ks.DAEAD()).Encrypt(msg, aad)
			case "mac_compute":
				got, err = must(ks.MAC()).Compute(msg)
			case "sig_sign":
				got, err = must(ks.Signer()).SignWithHeader(msg)
			case "sig_verify":
				if err := must(ks.Verifier()).Verify(msg, want); err != nil {
					t.Fatalf("verify: %v", err)
				}
				return
			case "public_key":
				got, err = ks.PublicKeyBytes(0, PublicKeyRaw)
			case "kdf_derive":
				got, err = must(ks.KDF()).Derive(aad, msg, len(want))
			default:
				t.Fatalf("unknown check %q", v.Check.Kind)
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: %x, %v; want %x", v.Check.Kind, got, err, want)
			}
		})
	}
}

var goldenStatus = map[string]error{
	"KH_E_MALFORMED": ErrMalformed, "KH_E_UNSUPPORTED": ErrUnsupported, "KH_E_AUTH_FAILED": ErrAuthFailed,
}

func TestKeystoreGoldenInvalid(t *testing.T) {
	_, invalid := loadGoldenKeysets(t)
	dir := t.TempDir()
	for _, v := range invalid {
		want := goldenStatus[v.Status]
		if want == nil {
			t.Fatalf("%s: unknown status %s", v.Name, v.Status)
		}
		kek := goldenKEK(t, v, dir)
		if ks, err := suite.ImportWrapped(unhex(t, v.File), kek); !errors.Is(err, want) || ks != nil {
			t.Errorf("%s: %v, want %v", v.Name, err, want)
		}
	}
}
