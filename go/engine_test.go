package keyhold

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEngineOpenClose(t *testing.T) {
	e := openTestEngine(t)
	want := "native"
	if remoteMode() {
		want = "remote"
	}
	if e.Backend() != want {
		t.Errorf("Backend() = %q, want %q", e.Backend(), want)
	}
	if v := e.Version(); strings.Count(v, ".") != 2 {
		t.Errorf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(e.BuildInfo()), &info); err != nil {
		t.Errorf("BuildInfo is not JSON: %v", err)
	}
	s, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if !s.SelfTestPassed || s.LiveHandles != 0 {
		t.Errorf("fresh engine stats %+v", s)
	}
	ks, err := e.NewKeyset(AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := e.Stats(); s.LiveHandles != 1 {
		t.Errorf("live handles with one keyset = %d", s.LiveHandles)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Every use after Close is a defined error, never a crash.
	if _, err := e.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v", err)
	}
	if _, err := e.NewKeyset(AES256GCM); !errors.Is(err, ErrEngineClosed) {
		t.Errorf("NewKeyset after Close: %v", err)
	}
	a, err := ks.AEAD()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Encrypt([]byte("x"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Encrypt with a keyset of a closed engine: %v", err)
	}
	if err := ks.Close(); err != nil {
		t.Errorf("Keyset.Close after Engine.Close: %v", err)
	}
	if _, err := e.Rand().Read(make([]byte, 4)); !errors.Is(err, ErrClosed) {
		t.Errorf("Rand after Close: %v", err)
	}
	if _, err := e.Batch([]BatchItem{{}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Batch after Close: %v", err)
	}
}

// TestEngineEndpoint: KEYHOLD_ENDPOINT selects the daemon; a daemon that
// cannot be reached is ErrUnavailable (never a silent fallback to the
// in-process engine), and the error does not repeat the address.
func TestEngineEndpoint(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvEndpoint, "unix://"+dir+"/absent.sock")
	if _, err := Open(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open with %s naming no daemon: %v, want ErrUnavailable", EnvEndpoint, err)
	}
	if _, err := Open(WithoutEnvironment(), WithEndpoint("tcp://127.0.0.1:1")); err == nil {
		t.Error("Open(WithEndpoint(tcp://...)): no error")
	}
	t.Setenv(EnvTimeout, "soon")
	if _, err := Open(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Open with %s=soon: %v, want ErrInvalidArgument", EnvTimeout, err)
	}
	t.Setenv(EnvTimeout, "")
	if remoteMode() {
		t.Setenv(EnvEndpoint, testDaemonInstance.Endpoint())
		e, err := Open()
		if err != nil {
			t.Fatalf("Open with %s set to the test daemon: %v", EnvEndpoint, err)
		}
		if e.Backend() != "remote" {
			t.Errorf("Backend() = %q, want remote", e.Backend())
		}
		e.Close()
		return
	}
	for _, opt := range []Option{WithInProcess(), WithoutEnvironment()} {
		e, err := Open(opt)
		if err != nil {
			t.Errorf("Open ignoring the environment: %v", err)
			continue
		}
		if e.Backend() != "native" {
			t.Errorf("Backend() = %q, want native", e.Backend())
		}
		e.Close()
	}
}

func TestEngineSizes(t *testing.T) {
	for _, alg := range algorithms {
		s, err := suite.Sizes(alg)
		if err != nil {
			t.Errorf("%v: %v", alg, err)
			continue
		}
		t.Logf("%-24v %+v", alg, s)
		switch alg.Primitive() {
		case PrimitiveAEAD:
			if s.Overhead != s.HeaderLen+s.NonceLen+s.TagLen || s.TagLen != 16 {
				t.Errorf("%v: overhead %d != header %d + nonce %d + tag %d", alg, s.Overhead, s.HeaderLen, s.NonceLen, s.TagLen)
			}
		case PrimitiveDAEAD:
			if s.Overhead != s.HeaderLen+s.TagLen {
				t.Errorf("%v: overhead %d != header %d + SIV %d", alg, s.Overhead, s.HeaderLen, s.TagLen)
			}
		}
	}
	if _, err := suite.Sizes(Algorithm(999)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Sizes(999): %v", err)
	}
}

func TestRand(t *testing.T) {
	r := suite.Rand()
	for _, n := range []int{0, 1, 32, 4096, 1 << 20} {
		b := make([]byte, n)
		got, err := r.Read(b)
		if err != nil || got != n {
			t.Fatalf("Read(%d) = %d, %v", n, got, err)
		}
		if n >= 32 && string(b[:16]) == string(make([]byte, 16)) {
			t.Errorf("Read(%d) left zeros", n)
		}
	}
	a, b := randBytes(t, 32), randBytes(t, 32)
	if string(a) == string(b) {
		t.Error("two reads are equal")
	}
}

func TestRuntimeInfoNamesTheSelectedBackends(t *testing.T) {
	var info map[string]any
	if err := json.Unmarshal([]byte(suite.RuntimeInfo()), &info); err != nil {
		t.Fatalf("RuntimeInfo is not JSON: %v", err)
	}
	for _, key := range []string{"aes256_gcm_backend", "chacha20_poly1305_backend"} {
		v, ok := info[key].(string)
		if !ok || (v != "ipsec-mb" && v != "openssl") {
			t.Errorf("%s = %v, want ipsec-mb or openssl", key, info[key])
		}
	}
}
