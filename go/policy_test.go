//go:build cgo

package keyhold

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests change KEYHOLD_* variables (t.Setenv), so none runs in
// parallel; the engine reads the variables at Open.

func openWith(t *testing.T, opts ...Option) *Engine {
	t.Helper()
	e, err := Open(append([]Option{WithInProcess()}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestPolicyDefaultsRefuseAESSIVAndX25519AndLogTheRefusal(t *testing.T) {
	t.Setenv("KEYHOLD_POLICY_ENABLED", "")
	var logs bytes.Buffer
	e := openWith(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	for _, alg := range []Algorithm{AES256SIV, X25519} {
		if _, err := e.NewKeyset(alg); !errors.Is(err, ErrPolicyDenied) {
			t.Errorf("NewKeyset(%v) = %v, want ErrPolicyDenied", alg, err)
		}
	}
	if _, err := e.ImportRawKey(X25519, make([]byte, 32)); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("ImportRawKey(X25519) = %v, want ErrPolicyDenied", err)
	}
	for _, alg := range []Algorithm{AES256GCM, ChaCha20Poly1305, XChaCha20Poly1305, HMACSHA256, HMACSHA512,
		Ed25519, ECDSAP256, ECDSAP256P1363, HKDFSHA256, HKDFSHA512} {
		ks, err := e.NewKeyset(alg)
		if err != nil {
			t.Errorf("NewKeyset(%v): %v", alg, err)
			continue
		}
		ks.Close()
	}
	if n := strings.Count(logs.String(), `"msg":"keyhold: refused by policy"`); n != 3 {
		t.Errorf("%d refusals logged, want 3:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"keyhold: engine open"`) {
		t.Errorf("engine open not logged:\n%s", logs.String())
	}
}

func TestPolicyDeprecatedVerifiesButNeverComputes(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	full := openWith(t)
	ks, err := full.ImportRawKey(HMACSHA256, key)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	m, _ := ks.MAC()
	tag, err := m.Compute([]byte("msg"))
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv("KEYHOLD_POLICY_ENABLED", "AES256_GCM")
	t.Setenv("KEYHOLD_POLICY_DEPRECATED", "HMAC_SHA256")
	e := openWith(t)
	if _, err := e.NewKeyset(HMACSHA256); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("NewKeyset of a deprecated algorithm = %v, want ErrPolicyDenied", err)
	}
	old, err := e.ImportRawKey(HMACSHA256, key)
	if err != nil {
		t.Fatalf("importing a deprecated key: %v", err)
	}
	defer old.Close()
	om, _ := old.MAC()
	if err := om.Verify([]byte("msg"), tag); err != nil {
		t.Errorf("Verify with a deprecated key: %v", err)
	}
	if _, err := om.Compute([]byte("msg")); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("Compute with a deprecated key = %v, want ErrPolicyDenied", err)
	}
	if _, err := e.NewKeyset(Ed25519); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("NewKeyset of a disabled algorithm = %v, want ErrPolicyDenied", err)
	}
}

func TestPolicyForbidsExport(t *testing.T) {
	t.Setenv("KEYHOLD_POLICY_ALLOW_EXPORT", "false")
	e := openWith(t)
	kek, err := e.OpenKEK("file:" + filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	defer kek.Close()
	ks, err := e.NewKeyset(AES256GCM, Exportable())
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if _, err := ks.ExportWrapped(kek); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("ExportWrapped = %v, want ErrPolicyDenied", err)
	}
	m, err := ParseMetrics(mustSnapshot(t, e))
	if err != nil {
		t.Fatal(err)
	}
	if m.PolicyRefusals["export_forbidden"] == 0 {
		t.Errorf("export refusal not counted: %v", m.PolicyRefusals)
	}
}

func TestConfigErrorsNameTheVariableAndNoEngineStarts(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"KEYHOLD_POLICY_ENABLED", "AES256_GCM,ROT13", `unknown algorithm "ROT13"`},
		{"KEYHOLD_AEAD_MAX_MESSAGES", "lots", "KEYHOLD_AEAD_MAX_MESSAGES"},
		{"KEYHOLD_POLICY_ALLOW_EXPORT", "perhaps", "KEYHOLD_POLICY_ALLOW_EXPORT"},
		{"KEYHOLD_METRICS_LATENCY_SAMPLE", "100", "KEYHOLD_METRICS_LATENCY_SAMPLE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.name, c.value)
			e, err := Open(WithInProcess())
			if err == nil {
				e.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.name) ||
				!strings.Contains(err.Error(), c.want) {
				t.Errorf("Open = %v, want ErrInvalidArgument naming %s and %q", err, c.name, c.want)
			}
		})
	}
}

func TestConfigFileEnvironmentPrecedenceAndSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyhold.toml")
	toml := "[engine]\nuse_reservation = 4096\naead_max_messages = 100000\n[daemon]\nsocket = \"/run/k.sock\"\n"
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYHOLD_CONFIG", path)
	t.Setenv("KEYHOLD_AEAD_MAX_MESSAGES", "50000")
	e := openWith(t)
	c, err := e.Config()
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path {
		t.Errorf("File = %q", c.File)
	}
	want := map[string][2]string{
		"engine.use_reservation":   {"4096", "file"},
		"engine.aead_max_messages": {"50000", "env"},
		"policy.allow_export":      {"true", "default"},
	}
	for key, w := range want {
		s, ok := c.Lookup(key)
		if !ok || string(s.Value) != w[0] || s.Source != w[1] {
			t.Errorf("%s = %+v, want value %s from %s", key, s, w[0], w[1])
		}
	}
	if err := os.WriteFile(path, []byte("[engine]\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(WithInProcess()); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Open with an unknown key = %v", err)
	}
}

func mustSnapshot(t *testing.T, e *Engine) []byte {
	t.Helper()
	b, err := e.MetricsSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMetricsCountOperationsAndKeys(t *testing.T) {
	e := openWith(t)
	before, err := ParseMetrics(mustSnapshot(t, e))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := e.NewKeyset(ChaCha20Poly1305)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	a, _ := ks.AEAD()
	for range 5 {
		if _, err := a.Encrypt(make([]byte, 100), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Decrypt(make([]byte, 60), nil); err == nil {
		t.Fatal("decrypting zeros succeeded")
	}
	after, err := ParseMetrics(mustSnapshot(t, e))
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Count("aead_encrypt", "KH_OK") - before.Count("aead_encrypt", "KH_OK"); d < 5 {
		t.Errorf("aead_encrypt KH_OK moved by %d, want >= 5", d)
	}
	failed := 0
	for _, o := range after.Operations {
		if o.Op == "aead_decrypt" && o.Outcome != "KH_OK" {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("the failed decrypt is not counted: %+v", after.Operations)
	}
	if after.LiveHandles != 1 || len(after.Keys) != 1 || after.Keys[0].Uses != 5 || after.Keys[0].Limit != 1<<32 {
		t.Errorf("gauges: live %d, keys %+v", after.LiveHandles, after.Keys)
	}
	prom, err := e.MetricsPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(prom, []byte(`keyhold_key_usage_headroom{keyset="`+after.Keys[0].Keyset)) {
		t.Errorf("Prometheus text lacks the key's headroom:\n%s", prom)
	}
	if _, err := ParseMetrics([]byte(`{"version":2}`)); err == nil {
		t.Error("ParseMetrics accepted version 2")
	}
	var raw map[string]any
	if err := json.Unmarshal(mustSnapshot(t, e), &raw); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyDeprecatedStreamsDecryptOnly: a deprecated AEAD keyset opens
// existing streams but never starts one (streams are audited and metered
// like one-shot encryption).
func TestPolicyDeprecatedStreamsDecryptOnly(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	full := openWith(t)
	ks, err := full.ImportRawKey(AES256GCM, key)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	var sealed bytes.Buffer
	w, err := must(ks.AEAD()).NewEncryptingWriter(&sealed, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("streamed before the deprecation"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	t.Setenv("KEYHOLD_POLICY_ENABLED", "ED25519")
	t.Setenv("KEYHOLD_POLICY_DEPRECATED", "AES256_GCM")
	e := openWith(t)
	old, err := e.ImportRawKey(AES256GCM, key)
	if err != nil {
		t.Fatalf("importing a deprecated key: %v", err)
	}
	defer old.Close()
	a := must(old.AEAD())
	if _, err := a.NewEncryptingWriter(io.Discard, []byte("ad")); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("NewEncryptingWriter with a deprecated keyset = %v, want ErrPolicyDenied", err)
	}
	r, err := a.NewDecryptingReader(bytes.NewReader(sealed.Bytes()), []byte("ad"))
	if err != nil {
		t.Fatalf("NewDecryptingReader with a deprecated keyset: %v", err)
	}
	pt, err := io.ReadAll(r)
	if err != nil || string(pt) != "streamed before the deprecation" {
		t.Errorf("reading a stream with a deprecated keyset: %q, %v", pt, err)
	}
	snap := must(e.MetricsSnapshot())
	m := must(ParseMetrics(snap))
	var opens uint64
	for _, o := range m.Operations {
		if o.Op == "stream_open" && o.Outcome == "KH_OK" {
			opens += o.Count
		}
	}
	if opens == 0 {
		t.Errorf("stream_open not counted in the metrics: %+v", m.Operations)
	}
}
