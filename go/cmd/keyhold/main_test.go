package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests run the command tree in process: run() is main without
// os.Exit, so every test sees the exit code, stdout and stderr exactly as
// a shell would. tests/cli/cli_test.sh drives the built binary.

func TestMain(m *testing.M) {
	// No test may read or create the developer's ~/.keyhold or follow a
	// KEK or daemon from the environment.
	home, err := os.MkdirTemp("", "keyhold-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("KEYHOLD_HOME", filepath.Join(home, "default-home"))
	os.Unsetenv("KEYHOLD_KEK")
	os.Unsetenv("KEYHOLD_ENDPOINT")
	os.Unsetenv("KEYHOLD_AEAD_MAX_MESSAGES")
	os.Unsetenv("KEYHOLD_CONFIG")
	// Every key type is exercised, including the two a fresh install leaves
	// off (AES-SIV, X25519; docs/decisions/0015-configuration-and-policy.md).
	os.Setenv("KEYHOLD_POLICY_ENABLED", "AES256_GCM,CHACHA20_POLY1305,XCHACHA20_POLY1305,AES256_SIV,HMAC_SHA256,HMAC_SHA512,ED25519,ECDSA_P256_SHA256_DER,ECDSA_P256_SHA256_P1363,X25519,HKDF_SHA256,HKDF_SHA512")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	out            []byte // stdout as bytes
}

// cli runs one command line with stdin.
func cli(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	return cliWith(t, nil, stdin, args...)
}

func cliWith(t *testing.T, tweak func(*app), stdin []byte, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(bytes.NewReader(stdin), &stdout, &stderr)
	if tweak != nil {
		tweak(a)
	}
	code := a.run(args)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String(), out: stdout.Bytes()}
	checkStderr(t, r, args)
	return r
}

// checkStderr holds every run to the error contract: nothing on stderr on
// success, exactly one "keyhold: " line on failure.
func checkStderr(t *testing.T, r result, args []string) {
	t.Helper()
	if r.code == exitOK {
		if r.stderr != "" {
			t.Errorf("%q: exit 0 with stderr %q", args, r.stderr)
		}
		return
	}
	if !strings.HasPrefix(r.stderr, "keyhold: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("%q: exit %d, stderr is not one 'keyhold: ' line: %q", args, r.code, r.stderr)
	}
}

// ok runs a command that must succeed.
func ok(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != exitOK {
		t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
	}
	return r
}

// fails runs a command that must fail with code.
func fails(t *testing.T, code int, stdin []byte, args ...string) result {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != code {
		t.Fatalf("%q: exit %d, want %d (stderr %q)", args, r.code, code, r.stderr)
	}
	return r
}

// env is one isolated KEYHOLD_HOME (with its own default master key,
// created by the first command that needs it) and a work directory.
type env struct {
	t    *testing.T
	home string
	dir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, home: filepath.Join(root, "home"), dir: filepath.Join(root, "work")}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYHOLD_HOME", e.home)
	t.Setenv("KEYHOLD_KEK", "") // restored after the test...
	os.Unsetenv("KEYHOLD_KEK")  // ...and unset during it
	return e
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// kek is a --kek flag naming this env's default master key, usable after
// another env has become the current one.
func (e *env) kek() string { return "--kek=file:" + filepath.Join(e.home, "master.key") }

func (e *env) write(name string, data []byte) string {
	e.t.Helper()
	p := e.path(name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) read(name string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.path(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// create makes a keyset file of typ named name and returns its path.
func (e *env) create(typ, name string, extra ...string) string {
	e.t.Helper()
	p := e.path(name)
	ok(e.t, nil, append([]string{"keyset", "create", "--type", typ, "--out", p}, extra...)...)
	return p
}

// noTempFiles fails if a temporary output file was left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".keyhold-tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
