package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvKEK(t *testing.T) {
	e := newEnv(t)
	t.Setenv("KH_CLI_TEST_KEK", strings.Repeat("0123456789abcdef", 4))
	t.Setenv("KH_CLI_TEST_OTHER_KEK", strings.Repeat("fedcba9876543210", 4))
	t.Setenv("KH_CLI_TEST_BAD_KEK", "not hex")
	ks := e.path("env.keyset")
	ok(t, nil, "--kek", "env:KH_CLI_TEST_KEK", "keyset", "create", "--type", "aes256-siv", "--out", ks)
	ct := ok(t, secret, "--kek", "env:KH_CLI_TEST_KEK", "encrypt", "--keyset", ks).out
	if pt := ok(t, ct, "--kek", "env:KH_CLI_TEST_KEK", "decrypt", "--keyset", ks).out; !bytes.Equal(pt, secret) {
		t.Fatal("round trip under an env KEK failed")
	}
	// KEYHOLD_KEK is the default spec.
	t.Setenv("KEYHOLD_KEK", "env:KH_CLI_TEST_KEK")
	ok(t, ct, "decrypt", "--keyset", ks)
	if i := info(t, ks); i.KEK != "env" {
		t.Errorf("info kek = %q", i.KEK)
	}
	fails(t, exitKEK, ct, "--kek", "env:KH_CLI_TEST_OTHER_KEK", "decrypt", "--keyset", ks)
	fails(t, exitKEK, ct, "--kek", "env:KH_CLI_TEST_BAD_KEK", "decrypt", "--keyset", ks)
	fails(t, exitKEK, ct, "--kek", "env:KH_CLI_TEST_UNSET_KEK", "decrypt", "--keyset", ks)
	// A file KEK of the wrong kind: the message names the kind needed.
	other := newEnv(t)
	other.create("aes256-gcm", "x")
	t.Setenv("KEYHOLD_KEK", "")
	os.Unsetenv("KEYHOLD_KEK")
	r := fails(t, exitKEK, ct, other.kek(), "decrypt", "--keyset", ks)
	if !strings.Contains(r.stderr, "saved under an env KEK") {
		t.Errorf("kind mismatch message: %s", r.stderr)
	}
}

// TestInsecureKeyFiles: key files open to others are refused, the KEK as
// unavailable, the keyset by policy.
func TestInsecureKeyFiles(t *testing.T) {
	e := newEnv(t)
	ks := e.create("aes256-gcm", "k")
	ct := ok(t, secret, "encrypt", "--keyset", ks).out
	if err := os.Chmod(ks, 0o644); err != nil {
		t.Fatal(err)
	}
	r := fails(t, exitPolicy, ct, "decrypt", "--keyset", ks)
	if !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("message %q does not say how to fix it", r.stderr)
	}
	os.Chmod(ks, 0o600)
	kek := filepath.Join(e.home, "master.key")
	os.Chmod(kek, 0o640)
	fails(t, exitKEK, ct, "decrypt", "--keyset", ks)
	os.Chmod(kek, 0o600)
	ok(t, ct, "decrypt", "--keyset", ks)
}

// softhsm initialises a SoftHSM2 token in a temporary directory and
// returns a spec prefix for it, or skips the test.
func softhsm(t *testing.T) (module, token string) {
	t.Helper()
	for _, p := range []string{os.Getenv("KEYHOLD_SOFTHSM2_MODULE"), "/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				module = p
				break
			}
		}
	}
	if _, err := exec.LookPath("softhsm2-util"); module == "" || err != nil {
		t.Skip("SoftHSM2 is not installed (scripts/install-deps)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	token = "keyhold-cli-test"
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", token,
		"--so-pin", "1234", "--pin", "5678").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util: %v: %s", err, out)
	}
	return module, token
}

func TestPKCS11KEK(t *testing.T) {
	module, token := softhsm(t)
	e := newEnv(t)
	t.Setenv("KH_CLI_PIN", "5678")
	t.Setenv("KH_CLI_WRONG_PIN", "0000")
	spec := func(token, pinEnv, key string) string {
		return "--kek=pkcs11:module=" + module + ";token=" + token + ";pin-env=" + pinEnv + ";key=" + key
	}
	hsm := spec(token, "KH_CLI_PIN", "cli-kek")
	ks := e.path("hsm.keyset")
	ok(t, nil, hsm, "keyset", "create", "--type", "ecdsa-p256", "--out", ks)
	sig := ok(t, secret, hsm, "sign", "--keyset", ks).out
	e.write("sig", sig)
	ok(t, secret, hsm, "verify", "--keyset", ks, "--sig", e.path("sig"))
	if i := info(t, ks); i.KEK != "pkcs11" {
		t.Errorf("info kek = %q", i.KEK)
	}
	fails(t, exitKEK, secret, spec(token, "KH_CLI_WRONG_PIN", "cli-kek"), "sign", "--keyset", ks)
	fails(t, exitKEK, secret, spec(token, "KH_CLI_UNSET_PIN", "cli-kek"), "sign", "--keyset", ks)
	fails(t, exitKEK, secret, spec("absent-token", "KH_CLI_PIN", "cli-kek"), "sign", "--keyset", ks)
	fails(t, exitKEK, secret, spec(token, "KH_CLI_PIN", "another-key"), "sign", "--keyset", ks)
	// The default (file) KEK is the wrong kind for this keyset.
	e.create("hmac-sha256", "touch")
	r := fails(t, exitKEK, secret, "sign", "--keyset", ks)
	if !strings.Contains(r.stderr, "pkcs11 KEK") {
		t.Errorf("kind mismatch message: %s", r.stderr)
	}
}
