//go:build cgo

package keyhold_test

// The no-secret-leak test (issue 7): known key material and plaintext
// markers go through every kind of operation, success and failure; then
// every output keyhold produces besides the cryptographic results -- the
// slog records, the error strings, the audit log files and the metrics in
// both formats and through the Prometheus collector -- is searched for the
// markers and for secret-derived values, raw and encoded. A self-check
// plants a marker to show the search finds one.

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"keyhold.dev/keyhold"
	"keyhold.dev/keyhold/promkeyhold"
)

var (
	keyMarker   = []byte("KHLEAK-KEY-MARKER-0123456789abc!") // 32 bytes
	ptMarker    = []byte("KHLEAK-PLAINTEXT-MARKER-never-in-a-log")
	aadMarker   = []byte("KHLEAK-AAD-MARKER")
	peerPrivate = bytes.Repeat([]byte{0x42}, 32)
)

// needle is one value that must not appear, with a name for the report.
type needle struct {
	name  string
	value []byte
}

// encodings returns v as it could appear in text: raw, hex (both cases),
// base64 (both alphabets, padded or not).
func encodings(v []byte) map[string]string {
	return map[string]string{
		"raw":       string(v),
		"hex":       hex.EncodeToString(v),
		"HEX":       strings.ToUpper(hex.EncodeToString(v)),
		"base64":    base64.StdEncoding.EncodeToString(v),
		"base64raw": base64.RawStdEncoding.EncodeToString(v),
		"base64url": base64.RawURLEncoding.EncodeToString(v),
	}
}

// findLeaks reports every needle found in any output.
func findLeaks(outputs map[string][]byte, needles []needle) []string {
	var found []string
	for oname, out := range outputs {
		for _, n := range needles {
			for enc, s := range encodings(n.value) {
				if len(s) >= 8 && bytes.Contains(out, []byte(s)) {
					found = append(found, fmt.Sprintf("%s (%s) in %s", n.name, enc, oname))
				}
			}
		}
	}
	return found
}

func TestLeakCheckerCatchesAPlantedMarker(t *testing.T) {
	needles := []needle{{"key", keyMarker}, {"plaintext", ptMarker}}
	clean := map[string][]byte{"log": []byte(`{"msg":"keyhold: engine open","op":"aead.seal"}`)}
	if f := findLeaks(clean, needles); len(f) != 0 {
		t.Fatalf("clean output reported: %v", f)
	}
	for enc, s := range encodings(keyMarker) {
		planted := map[string][]byte{"log": []byte(`{"msg":"oops","key":"` + s + `"}`)}
		if f := findLeaks(planted, needles); len(f) == 0 {
			t.Errorf("a key planted as %s was not found", enc)
		}
	}
	if f := findLeaks(map[string][]byte{"err": []byte("keyhold: " + string(ptMarker))}, needles); len(f) == 0 {
		t.Error("a planted plaintext was not found")
	}
}

func TestNoSecretInLogsErrorsAuditOrMetrics(t *testing.T) {
	dir := t.TempDir()
	// The audit trail and the metrics switches are process-wide: once the
	// variables below are restored, open an engine again so that the rest
	// of the suite does not audit into a removed directory.
	t.Cleanup(func() {
		if e, err := keyhold.Open(keyhold.WithInProcess()); err == nil {
			e.Close()
		}
	})
	t.Setenv("KEYHOLD_AUDIT_FILE", filepath.Join(dir, "audit.log"))
	t.Setenv("KEYHOLD_AUDIT_INTERVAL_MS", "10")
	t.Setenv("KEYHOLD_METRICS_LATENCY_SAMPLE", "1")
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := keyhold.Open(keyhold.WithInProcess(), keyhold.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	needles := []needle{{"key marker", keyMarker}, {"plaintext marker", ptMarker}, {"aad marker", aadMarker},
		{"peer private key", peerPrivate}}

	// AEADs: seal, open, tampered open, wrong AAD, short key, policy.
	for _, alg := range []keyhold.Algorithm{keyhold.AES256GCM, keyhold.ChaCha20Poly1305, keyhold.XChaCha20Poly1305} {
		ks, err := e.ImportRawKey(alg, keyMarker)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := ks.AEAD()
		ct, err := a.Encrypt(ptMarker, aadMarker)
		if err != nil {
			t.Fatal(err)
		}
		needles = append(needles, needle{alg.String() + " ciphertext", ct})
		_, err = a.Decrypt(ct, aadMarker)
		keep(err)
		_, err = a.Decrypt(ct, ptMarker)
		keep(err)
		ct[len(ct)-1] ^= 1
		_, err = a.Decrypt(ct, aadMarker)
		keep(err)
		_, err = e.ImportRawKey(alg, keyMarker[:31])
		keep(err)
		ks.Close()
	}
	siv, err := e.ImportRawKey(keyhold.AES256SIV, append(append([]byte{}, keyMarker...), keyMarker...))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := siv.DAEAD()
	dct, err := d.Encrypt(ptMarker, aadMarker)
	keep(err)
	needles = append(needles, needle{"siv ciphertext", dct})
	_, err = d.Decrypt(append(dct[:len(dct)-1:len(dct)-1], 0), aadMarker)
	keep(err)
	siv.Close()

	// MACs, signatures, KDF, key agreement.
	for _, alg := range []keyhold.Algorithm{keyhold.HMACSHA256, keyhold.HMACSHA512} {
		ks, err := e.ImportRawKey(alg, keyMarker)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := ks.MAC()
		tag, err := m.Compute(ptMarker)
		keep(err)
		needles = append(needles, needle{alg.String() + " tag", tag})
		keep(m.Verify(ptMarker, make([]byte, len(tag))))
		ks.Close()
	}
	for _, alg := range []keyhold.Algorithm{keyhold.Ed25519, keyhold.ECDSAP256} {
		ks, err := e.ImportRawKey(alg, keyMarker)
		if err != nil {
			t.Fatalf("%v: %v", alg, err)
		}
		s, _ := ks.Signer()
		sig, err := s.SignWithHeader(ptMarker)
		keep(err)
		v, _ := ks.Verifier()
		keep(v.Verify(ptMarker, sig))
		keep(v.Verify(aadMarker, sig))
		ks.Close()
	}
	hk, err := e.ImportRawKey(keyhold.HKDFSHA256, keyMarker)
	if err != nil {
		t.Fatal(err)
	}
	kdf, _ := hk.KDF()
	okm, err := kdf.Derive(aadMarker, ptMarker, 32)
	keep(err)
	needles = append(needles, needle{"derived key", okm})
	_, err = kdf.Derive(nil, nil, 1<<20)
	keep(err)
	hk.Close()
	xk, err := e.ImportRawKey(keyhold.X25519, keyMarker)
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := xk.KeyAgreement()
	peer, _ := ecdh.X25519().NewPrivateKey(peerPrivate)
	shared, err := ka.Agree(peer.PublicKey().Bytes())
	keep(err)
	needles = append(needles, needle{"shared secret", shared})
	_, err = ka.Agree(make([]byte, 32)) // low-order point
	keep(err)
	xk.Close()

	// Storage, export and a refused export.
	_, err = e.OpenKEK("env:KHLEAK_TEST_KEK") // unset: an error naming the variable
	keep(err)
	t.Setenv("KHLEAK_TEST_KEK", hex.EncodeToString(keyMarker))
	kek, err := e.OpenKEK("env:KHLEAK_TEST_KEK")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := e.NewKeyset(keyhold.AES256GCM, keyhold.Exportable())
	if err != nil {
		t.Fatal(err)
	}
	keep(gen.Save(filepath.Join(dir, "k.keyset"), kek))
	_, err = gen.ExportWrapped(kek)
	keep(err)
	_, err = e.LoadKeyset(filepath.Join(dir, "absent.keyset"), kek)
	keep(err)
	gen.Close()
	kek.Close()

	// A second engine where the same keys are deprecated: refusals.
	t.Setenv("KEYHOLD_POLICY_ENABLED", "ED25519")
	t.Setenv("KEYHOLD_POLICY_DEPRECATED", "AES256_GCM,HMAC_SHA256")
	t.Setenv("KEYHOLD_POLICY_ALLOW_EXPORT", "false")
	e2, err := keyhold.Open(keyhold.WithInProcess(), keyhold.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	dep, err := e2.ImportRawKey(keyhold.AES256GCM, keyMarker)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := dep.AEAD()
	_, err = da.Encrypt(ptMarker, aadMarker)
	keep(err)
	_, err = e2.ImportRawKey(keyhold.X25519, keyMarker)
	keep(err)
	dep.Close()
	// A refused configuration carries its text in the error.
	t.Setenv("KEYHOLD_POLICY_DEPRECATED", string(keyMarker))
	_, err = keyhold.Open(keyhold.WithInProcess(), keyhold.WithLogger(logger))
	keep(err)

	outputs := map[string][]byte{}
	for name, f := range map[string]func() ([]byte, error){
		"metrics snapshot": e.MetricsSnapshot, "metrics exposition": e.MetricsPrometheus,
		"metrics snapshot (engine 2)": e2.MetricsSnapshot,
	} {
		b, err := f()
		if err != nil {
			t.Fatal(err)
		}
		outputs[name] = b
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promkeyhold.ForEngine(e))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var prom bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&prom, mf); err != nil {
			t.Fatal(err)
		}
	}
	outputs["prometheus collector"] = prom.Bytes()
	cfg, err := e.Config()
	if err != nil {
		t.Fatal(err)
	}
	outputs["config"] = []byte(fmt.Sprint(cfg))
	e2.Close()
	e.Close() // flushes the audit trail
	outputs["slog"] = logs.Bytes()
	var texts []string
	for _, err := range errs {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		var ke *keyhold.Error
		if errors.As(err, &ke) {
			texts = append(texts, ke.Detail)
		}
	}
	outputs["errors"] = []byte(strings.Join(texts, "\n"))
	logsFound := 0
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		if strings.HasPrefix(ent.Name(), "audit") && strings.Contains(ent.Name(), ".log") {
			b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			outputs["audit "+ent.Name()] = b
			logsFound++
		}
	}

	// The outputs exist and say something, so an empty search is no pass.
	if logsFound == 0 || len(outputs["audit audit.log"]) == 0 {
		t.Fatalf("no audit log written in %s", dir)
	}
	if !bytes.Contains(outputs["slog"], []byte("refused by policy")) || len(errs) < 15 {
		t.Fatalf("too little output to search: %d errors, logs:\n%s", len(errs), logs.String())
	}
	if !bytes.Contains(outputs["errors"], []byte("KEYHOLD_POLICY_DEPRECATED")) {
		t.Errorf("the refused configuration is not explained: %s", outputs["errors"])
	}
	if f := findLeaks(outputs, needles); len(f) != 0 {
		t.Errorf("secrets found in keyhold's outputs:\n%s", strings.Join(f, "\n"))
	}
}
