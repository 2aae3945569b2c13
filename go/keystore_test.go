//go:build cgo

package keyhold

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openKEK opens a KEK in the suite engine, closed at the end of the test.
func openKEK(t testing.TB, spec string) *KEK {
	t.Helper()
	k, err := suite.OpenKEK(spec)
	if err != nil {
		t.Fatalf("OpenKEK(%q): %v", spec, err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func loadKeyset(t testing.TB, path string, kek *KEK) *Keyset {
	t.Helper()
	ks, err := suite.LoadKeyset(path, kek)
	if err != nil {
		t.Fatalf("LoadKeyset(%s): %v", path, err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func fileKEK(t testing.TB, dir string) *KEK {
	t.Helper()
	return openKEK(t, "file:"+filepath.Join(dir, "master.key"))
}

func TestKeystoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	kek := fileKEK(t, dir)
	if kek.Kind() != "file" {
		t.Fatalf("Kind() = %q", kek.Kind())
	}
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, %v", fi, err)
	}
	ks := newKeyset(t, AES256GCM)
	a := must(ks.AEAD())
	old := must(a.Encrypt([]byte("before rotation"), []byte("ad")))
	newID := must(ks.Rotate())
	cur := must(a.Encrypt([]byte("after rotation"), nil))
	before := must(ks.Info())
	path := filepath.Join(dir, "aead.keyset")
	start := time.Now().Add(-2 * time.Second)
	if err := ks.Save(path, kek); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyset file: %v, %v", fi, err)
	}

	loaded := loadKeyset(t, path, kek)
	if loaded.Algorithm() != AES256GCM || loaded.IsRaw() {
		t.Fatalf("loaded %v raw=%v", loaded.Algorithm(), loaded.IsRaw())
	}
	after := must(loaded.Info())
	if after.PrimaryKeyID != newID || len(after.Keys) != 2 {
		t.Fatalf("loaded info %+v", after)
	}
	for i := range after.Keys {
		if after.Keys[i] != before.Keys[i] {
			t.Errorf("key %d: loaded %+v, saved %+v", i, after.Keys[i], before.Keys[i])
		}
	}
	la := must(loaded.AEAD())
	for _, tc := range []struct{ ct, aad []byte }{{old, []byte("ad")}, {cur, nil}} {
		if _, err := la.Decrypt(tc.ct, tc.aad); err != nil {
			t.Errorf("decrypt after load: %v", err)
		}
	}

	info, err := ReadKeysetFileInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 1 || info.Algorithm != AES256GCM || info.Primary != newID || info.Exportable ||
		info.KEKKind != "file" || len(info.KeysetID) != 32 || len(info.Keys) != 2 {
		t.Fatalf("file info %+v", info)
	}
	for i, k := range info.Keys {
		if k.ID != before.Keys[i].ID || k.Status != KeyEnabled || k.UseCount != before.Keys[i].UseCount ||
			k.Created.Before(start) || k.Created.After(time.Now()) || k.Created.Location() != time.UTC {
			t.Errorf("file key %d: %+v", i, k)
		}
	}
}

// TestKeystoreEveryAlgorithm: every algorithm's keys survive a save and a
// load (the outputs made before check after).
func TestKeystoreEveryAlgorithm(t *testing.T) {
	dir := t.TempDir()
	kek := fileKEK(t, dir)
	msg := []byte("stored")
	for _, alg := range algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			ks := newKeyset(t, alg)
			path := filepath.Join(dir, alg.String()+".keyset")
			var check func(*Keyset) error
			switch alg.Primitive() {
			case PrimitiveAEAD:
				ct := must(must(ks.AEAD()).Encrypt(msg, nil))
				check = func(k *Keyset) error { _, err := must(k.AEAD()).Decrypt(ct, nil); return err }
			case PrimitiveDAEAD:
				ct := must(must(ks.DAEAD()).Encrypt(msg, nil))
				check = func(k *Keyset) error { _, err := must(k.DAEAD()).Decrypt(ct, nil); return err }
			case PrimitiveMAC:
				tag := must(must(ks.MAC()).Compute(msg))
				check = func(k *Keyset) error { return must(k.MAC()).Verify(msg, tag) }
			case PrimitiveSignature:
				sig := must(must(ks.Signer()).SignWithHeader(msg))
				check = func(k *Keyset) error { return must(k.Verifier()).Verify(msg, sig) }
			case PrimitiveKeyAgreement:
				pub := must(must(ks.KeyAgreement()).PublicKey())
				check = func(k *Keyset) error {
					if !must(must(k.KeyAgreement()).PublicKey()).Equal(pub) {
						return ErrAuthFailed
					}
					return nil
				}
			case PrimitiveKDF:
				out := must(must(ks.KDF()).Derive(nil, msg, 32))
				check = func(k *Keyset) error {
					if !bytes.Equal(must(must(k.KDF()).Derive(nil, msg, 32)), out) {
						return ErrAuthFailed
					}
					return nil
				}
			}
			if err := ks.Save(path, kek); err != nil {
				t.Fatal(err)
			}
			if err := check(loadKeyset(t, path, kek)); err != nil {
				t.Fatalf("check after load: %v", err)
			}
		})
	}
}

func TestKEKSpecs(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KH_GO_TEST_KEK", strings.Repeat("ab", 32))
	env := openKEK(t, "env:KH_GO_TEST_KEK")
	if env.Kind() != "env" {
		t.Fatalf("Kind() = %q", env.Kind())
	}
	// The same bytes in a file are the same KEK.
	if err := os.WriteFile(filepath.Join(dir, "same.key"), []byte(strings.Repeat("AB", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := openKEK(t, "file:"+filepath.Join(dir, "same.key"))
	ks := newKeyset(t, HMACSHA256)
	path := filepath.Join(dir, "env.keyset")
	if err := ks.Save(path, env); err != nil {
		t.Fatal(err)
	}
	loaded := loadKeyset(t, path, file)
	if err := loaded.Save(path, file); err != nil {
		t.Fatalf("saving under the same key through another provider: %v", err)
	}

	for _, tc := range []struct {
		spec string
		want error
	}{
		{"", ErrInvalidArgument},
		{"file:", ErrInvalidArgument},
		{"env:bad-name", ErrInvalidArgument},
		{"mystery:x", ErrInvalidArgument},
		{"pkcs11:module=relative.so;token=t;key=k", ErrInvalidArgument},
		{"env:KH_GO_TEST_UNSET", ErrKEKUnavailable},
		{"file:" + filepath.Join(dir, "missing-dir", "master.key"), ErrIO},
		{"pkcs11:module=/nonexistent/module.so;token=t;key=k", ErrKEKUnavailable},
	} {
		k, err := suite.OpenKEK(tc.spec)
		if !errors.Is(err, tc.want) || k != nil {
			t.Errorf("OpenKEK(%q) = %v, want %v", tc.spec, err, tc.want)
		}
	}
	// A group-readable KEK file is refused with a clear error.
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte(strings.Repeat("01", 32)), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := suite.OpenKEK("file:" + open)
	if !errors.Is(err, ErrInsecureFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable KEK file: %v", err)
	}
}

func TestDefaultKEK(t *testing.T) {
	home := filepath.Join(t.TempDir(), "kh")
	t.Setenv(EnvHome, home)
	t.Setenv(EnvKEK, "")
	k, err := suite.DefaultKEK()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.Kind() != "file" {
		t.Fatalf("Kind() = %q", k.Kind())
	}
	if fi, err := os.Stat(home); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("KEYHOLD_HOME: %v, %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(home, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, %v", fi, err)
	}
	t.Setenv("KH_GO_TEST_KEK", strings.Repeat("cd", 32))
	t.Setenv(EnvKEK, "env:KH_GO_TEST_KEK")
	k2, err := suite.DefaultKEK()
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if k2.Kind() != "env" {
		t.Fatalf("KEYHOLD_KEK: Kind() = %q", k2.Kind())
	}
}

func TestKeystoreErrors(t *testing.T) {
	dir := t.TempDir()
	kek := fileKEK(t, dir)
	other := openKEK(t, "file:"+filepath.Join(dir, "other.key"))
	ks := newKeyset(t, ChaCha20Poly1305)
	path := filepath.Join(dir, "e.keyset")
	if err := ks.Save(path, kek); err != nil {
		t.Fatal(err)
	}

	_, err := suite.LoadKeyset(filepath.Join(dir, "missing.keyset"), kek)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadKeysetFileInfo(filepath.Join(dir, "missing.keyset")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file info of a missing file: %v", err)
	}
	if _, err := suite.LoadKeyset(path, other); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("wrong KEK: %v", err)
	}
	if err := ks.Save(filepath.Join(dir, "other.keyset"), other); !errors.Is(err, ErrNotExportable) {
		t.Errorf("save under another KEK: %v", err)
	}
	if _, err := ks.ExportWrapped(other); !errors.Is(err, ErrNotExportable) {
		t.Errorf("export: %v", err)
	}
	if err := ks.Save(filepath.Join(dir, "no-such-dir", "x.keyset"), kek); !errors.Is(err, ErrIO) {
		t.Errorf("save into a missing directory: %v", err)
	}
	raw := importRaw(t, AES256GCM, make([]byte, 32))
	if err := raw.Save(filepath.Join(dir, "raw.keyset"), kek); !errors.Is(err, ErrUnsupported) {
		t.Errorf("raw keyset: %v", err)
	}

	data := must(os.ReadFile(path))
	cut := filepath.Join(dir, "cut.keyset")
	if err := os.WriteFile(cut, data[:len(data)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := suite.LoadKeyset(cut, kek); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-1] ^= 1
	if _, err := suite.ImportWrapped(flipped, kek); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("flipped tag: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := suite.LoadKeyset(path, kek); !errors.Is(err, ErrInsecureFile) {
		t.Errorf("world-readable keyset: %v", err)
	}
	if _, err := ReadKeysetFileInfo(path); !errors.Is(err, ErrInsecureFile) {
		t.Errorf("file info of a world-readable keyset: %v", err)
	}

	// Closed objects.
	k2 := openKEK(t, "file:"+filepath.Join(dir, "k2.key"))
	if err := k2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k2.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := suite.LoadKeyset(path, k2); !errors.Is(err, ErrClosed) {
		t.Errorf("closed KEK: %v", err)
	}
	if _, err := suite.LoadKeyset(path, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil KEK: %v", err)
	}
	// The messages carry no path, spec or key: only the operation and code.
	_, err = suite.OpenKEK("env:KH_GO_TEST_UNSET")
	if got := err.Error(); got != "keyhold: kek.open: key-encryption key unavailable" {
		t.Errorf("error text %q", got)
	}
}

func TestExportWrappedImportWrapped(t *testing.T) {
	dir := t.TempDir()
	kek := fileKEK(t, dir)
	to := openKEK(t, "file:"+filepath.Join(dir, "to.key"))
	ks := newKeyset(t, Ed25519, Exportable())
	if info := must(ks.Info()); !info.Exportable {
		t.Fatal("Exportable() did not set the flag")
	}
	sig := must(must(ks.Signer()).SignWithHeader([]byte("m")))
	blob, err := ks.ExportWrapped(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := suite.ImportWrapped(blob, kek); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("import with the wrong KEK: %v", err)
	}
	imported, err := suite.ImportWrapped(blob, to)
	if err != nil {
		t.Fatal(err)
	}
	defer imported.Close()
	if err := must(imported.Verifier()).Verify([]byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	// Exportable keysets may be saved under any KEK.
	path := filepath.Join(dir, "exp.keyset")
	if err := imported.Save(path, kek); err != nil {
		t.Fatal(err)
	}
	if info := must(ReadKeysetFileInfo(path)); !info.Exportable || info.Algorithm != Ed25519 {
		t.Fatalf("file info %+v", info)
	}
}

// TestUseCountsSurviveRestart: a stored keyset writes its use counts ahead
// of use, so a reload never starts below what was used.
func TestUseCountsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	kek := fileKEK(t, dir)
	ks := newKeyset(t, AES256GCM)
	path := filepath.Join(dir, "counts.keyset")
	if err := ks.Save(path, kek); err != nil {
		t.Fatal(err)
	}
	a := must(ks.AEAD())
	for range 10 {
		must(a.Encrypt([]byte("x"), nil))
	}
	info := must(ReadKeysetFileInfo(path))
	if info.Keys[0].UseCount < 10 {
		t.Fatalf("stored count %d is behind 10 uses", info.Keys[0].UseCount)
	}
	// A reload (a restart) starts from the stored count.
	loaded := loadKeyset(t, path, kek)
	if got := must(loaded.Info()).Keys[0].UseCount; got != info.Keys[0].UseCount {
		t.Fatalf("reloaded count %d, stored %d", got, info.Keys[0].UseCount)
	}
	// An explicit save writes the exact count.
	if err := ks.Save(path, kek); err != nil {
		t.Fatal(err)
	}
	if got := must(ReadKeysetFileInfo(path)).Keys[0].UseCount; got != 10 {
		t.Fatalf("after Save: stored %d, want 10", got)
	}
}

func TestReadKeysetFileInfoHex(t *testing.T) {
	dir := t.TempDir()
	kek := fileKEK(t, dir)
	ks := newKeyset(t, X25519)
	path := filepath.Join(dir, "x.keyset")
	if err := ks.Save(path, kek); err != nil {
		t.Fatal(err)
	}
	info := must(ReadKeysetFileInfo(path))
	id, err := hex.DecodeString(info.KeysetID)
	if err != nil || len(id) != 16 || bytes.Equal(id, make([]byte, 16)) {
		t.Fatalf("keyset id %q", info.KeysetID)
	}
}
