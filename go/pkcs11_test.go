//go:build cgo

package keyhold

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// SoftHSM2 (Debian softhsm2) as a real PKCS#11 token: the suite
// initialises its own token in a temporary directory (SOFTHSM2_CONF) once
// per test process. The module reads SOFTHSM2_CONF when keyhold
// initialises it, so the variable is set for the whole process.

const softhsmToken = "keyhold-go-test"

var softhsm = sync.OnceValues(func() (module string, err error) {
	module = os.Getenv("KEYHOLD_SOFTHSM2_MODULE")
	if module == "" {
		for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
			"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
			if _, err := os.Stat(p); err == nil {
				module = p
				break
			}
		}
	}
	if module == "" {
		return "", errors.New("SoftHSM2 not found: run scripts/install-deps (package softhsm2)")
	}
	dir, err := os.MkdirTemp("", "keyhold-go-softhsm-")
	if err != nil {
		return "", err
	}
	atSuiteEnd(func() { os.RemoveAll(dir) })
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		return "", err
	}
	os.Setenv("SOFTHSM2_CONF", conf)
	os.Setenv("KH_GO_TEST_PIN", "5678")
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", softhsmToken,
		"--so-pin", "1234", "--pin", "5678").CombinedOutput()
	if err != nil {
		return "", errors.New("softhsm2-util --init-token: " + err.Error() + ": " + string(out))
	}
	return module, nil
})

func pkcs11Spec(t *testing.T, key, pinEnv string) string {
	t.Helper()
	module, err := softhsm()
	if err != nil {
		t.Fatal(err)
	}
	return "pkcs11:module=" + module + ";token=" + softhsmToken + ";pin-env=" + pinEnv + ";key=" + key
}

func TestPKCS11SoftHSM(t *testing.T) {
	dir := t.TempDir()
	kek := openKEK(t, pkcs11Spec(t, "go-kek", "KH_GO_TEST_PIN"))
	if kek.Kind() != "pkcs11" {
		t.Fatalf("Kind() = %q", kek.Kind())
	}
	ks := newKeyset(t, AES256GCM, Exportable())
	a := must(ks.AEAD())
	ct := must(a.Encrypt([]byte("in the token"), nil))
	path := filepath.Join(dir, "hsm.keyset")
	if err := ks.Save(path, kek); err != nil {
		t.Fatal(err)
	}
	if info := must(ReadKeysetFileInfo(path)); info.KEKKind != "pkcs11" {
		t.Fatalf("file info %+v", info)
	}
	loaded := loadKeyset(t, path, kek)
	if _, err := must(loaded.AEAD()).Decrypt(ct, nil); err != nil {
		t.Fatal(err)
	}
	// A new handle on the same spec finds the same key in the token (the
	// keysets saved under the closed one keep theirs to write their file).
	kek.Close()
	again := openKEK(t, pkcs11Spec(t, "go-kek", "KH_GO_TEST_PIN"))
	if _, err := must(loadKeyset(t, path, again).AEAD()).Decrypt(ct, nil); err != nil {
		t.Fatal(err)
	}

	// Another token key is another KEK; an export moves the keyset to it.
	other := openKEK(t, pkcs11Spec(t, "go-kek-2", "KH_GO_TEST_PIN"))
	if _, err := suite.LoadKeyset(path, other); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("another token key: %v", err)
	}
	blob, err := ks.ExportWrapped(other)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := suite.ImportWrapped(blob, other)
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	if _, err := must(moved.AEAD()).Decrypt(ct, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPKCS11Unavailable(t *testing.T) {
	t.Setenv("KH_GO_WRONG_PIN", "0000")
	for _, spec := range []string{
		pkcs11Spec(t, "go-kek", "KH_GO_WRONG_PIN"),
		pkcs11Spec(t, "go-kek", "KH_GO_UNSET_PIN"),
	} {
		if k, err := suite.OpenKEK(spec); !errors.Is(err, ErrKEKUnavailable) || k != nil {
			t.Errorf("OpenKEK: %v, want ErrKEKUnavailable", err)
		}
	}
	module, _ := softhsm()
	if _, err := suite.OpenKEK("pkcs11:module=" + module + ";token=absent;pin-env=KH_GO_TEST_PIN;key=k"); !errors.Is(err, ErrKEKUnavailable) {
		t.Errorf("absent token: %v", err)
	}
}
