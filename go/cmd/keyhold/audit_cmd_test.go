package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// auditLog runs a few commands in a fresh env, so that the engine writes
// an audit log into its KEYHOLD_HOME, and returns the env and the log's
// lines.
func auditLog(t *testing.T) (*env, string, [][]byte) {
	t.Helper()
	e := newEnv(t)
	ks := e.path("app.keyset")
	ok(t, nil, "keyset", "create", "--type", "aes256-gcm", "--out", ks)
	ok(t, nil, "keyset", "rotate", ks)
	pt := e.write("pt", []byte("AUDIT-PLAINTEXT-MARKER"))
	for i := 0; i < 3; i++ {
		ok(t, nil, "encrypt", "--keyset", ks, "-i", pt, "-o", e.path(fmt.Sprintf("ct%d", i)))
	}
	ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path("ct0"), "-o", e.path("back"))
	log := filepath.Join(e.home, "audit.log")
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("AUDIT-PLAINTEXT-MARKER")) {
		t.Fatal("the audit log holds the plaintext")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	return e, log, lines[:len(lines)-1]
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyEngineLog(t *testing.T) {
	_, log, lines := auditLog(t)
	// What the commands above must have left: their lifecycle events and
	// their uses, each process's records closed by a checkpoint.
	var types, events []string
	uses := 0
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		types = append(types, r["type"].(string))
		switch r["type"] {
		case "lifecycle":
			events = append(events, r["event"].(string))
		case "use":
			// keyhold encrypt streams an AEAD keyset's data (one use
			// record per batch of segments).
			if r["op"] == "stream_encrypt" && r["outcome"] == "KH_OK" {
				uses += int(r["count"].(float64))
			}
		}
	}
	if got := strings.Join(events, " "); !strings.HasPrefix(got, "create save load rotate save") {
		t.Errorf("lifecycle events: %s", got)
	}
	if uses != 3 {
		t.Errorf("stream_encrypt uses recorded: %d, want 3 (types %v)", uses, types)
	}
	if types[len(types)-1] != "checkpoint" {
		t.Errorf("the log does not end with a checkpoint: %v", types)
	}
	r := ok(t, nil, "audit", "verify", log)
	if !strings.HasPrefix(r.stdout, fmt.Sprintf("ok: %d records in 1 file(s)", len(lines))) {
		t.Errorf("verify: %s", r.stdout)
	}
	r = ok(t, nil, "audit", "verify", "--json", log)
	var rep struct {
		OK      bool `json:"ok"`
		Records int  `json:"records"`
		HeadSeq int  `json:"head_seq"`
	}
	if err := json.Unmarshal(r.out, &rep); err != nil || !rep.OK || rep.Records != len(lines) || rep.HeadSeq != len(lines) {
		t.Errorf("verify --json: %s (%v)", r.out, err)
	}
}

// TestAuditVerifyTamper: each tampering of an engine-written log fails
// verification with exit 3 and the right line number.
func TestAuditVerifyTamper(t *testing.T) {
	_, log, orig := auditLog(t)
	if len(orig) < 8 {
		t.Fatalf("log too short: %d lines", len(orig))
	}
	edit := func(l [][]byte, i int, from, to string) [][]byte {
		if !bytes.Contains(l[i], []byte(from)) {
			t.Fatalf("line %d has no %q: %s", i+1, from, l[i])
		}
		l[i] = bytes.Replace(l[i], []byte(from), []byte(to), 1)
		return l
	}
	cases := []struct {
		name string
		edit func([][]byte) [][]byte
		line int
	}{
		{"delete", func(l [][]byte) [][]byte { return append(l[:3], l[4:]...) }, 4},
		{"insert", func(l [][]byte) [][]byte { return append(l[:5], append([][]byte{l[1]}, l[5:]...)...) }, 6},
		{"reorder", func(l [][]byte) [][]byte { l[2], l[3] = l[3], l[2]; return l }, 3},
		{"edit", func(l [][]byte) [][]byte { return edit(l, 1, `"outcome":"KH_OK"`, `"outcome":"KH_E_IO"`) }, 3},
		{"truncate", func(l [][]byte) [][]byte { return l[:len(l)-3] }, len(orig) - 2},
		{"truncate mid-record", func(l [][]byte) [][]byte {
			l[len(l)-1] = l[len(l)-1][:10]
			return l
		}, len(orig)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := make([][]byte, len(orig))
			for i := range orig {
				lines[i] = append([]byte(nil), orig[i]...)
			}
			writeLines(t, log, c.edit(lines))
			r := fails(t, exitAuth, nil, "audit", "verify", log)
			if want := fmt.Sprintf("%s:%d:", log, c.line); !strings.Contains(r.stderr, want) {
				t.Errorf("stderr %q, want %q", r.stderr, want)
			}
		})
	}
	writeLines(t, log, orig)
	ok(t, nil, "audit", "verify", log)
}

func TestAuditVerifyRotation(t *testing.T) {
	e := newEnv(t)
	t.Setenv("KEYHOLD_AUDIT_MAX_BYTES", "4096")
	ks := e.path("app.keyset")
	ok(t, nil, "keyset", "create", "--type", "hmac-sha256", "--out", ks)
	for i := 0; i < 12; i++ {
		ok(t, nil, "keyset", "rotate", ks)
	}
	log := filepath.Join(e.home, "audit.log")
	rotated, _ := filepath.Glob(log + ".*[0-9]")
	if len(rotated) < 2 {
		t.Fatalf("no rotation: %v", rotated)
	}
	r := ok(t, nil, "audit", "verify", "--rotated", log)
	if !strings.Contains(r.stdout, fmt.Sprintf("in %d file(s)", len(rotated)+1)) {
		t.Errorf("verify --rotated: %s", r.stdout)
	}
	// The live log alone starts mid-chain: a defect unless --partial.
	fails(t, exitAuth, nil, "audit", "verify", log)
	ok(t, nil, "audit", "verify", "--partial", log)
	// A record deleted from a rotated file is caught in that file.
	data, _ := os.ReadFile(rotated[0])
	lines := bytes.SplitAfter(data, []byte("\n"))
	writeLines(t, rotated[0], append(lines[:2:2], lines[3:]...))
	r = fails(t, exitAuth, nil, "audit", "verify", "--rotated", log)
	if want := rotated[0] + ":3:"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	// A whole rotated file missing: the next one does not start the chain.
	writeLines(t, rotated[0], lines)
	if err := os.Remove(rotated[0]); err != nil {
		t.Fatal(err)
	}
	r = fails(t, exitAuth, nil, "audit", "verify", "--rotated", log)
	if want := rotated[1] + ":1:"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

func TestAuditVerifyErrors(t *testing.T) {
	e, log, _ := auditLog(t)
	fails(t, exitUsage, nil, "audit", "verify")
	fails(t, exitUsage, nil, "audit", "verify", "--rotated", log, log)
	fails(t, exitUsage, nil, "audit", "verify", "--head", log, "--no-head", log)
	fails(t, exitIO, nil, "audit", "verify", e.path("missing.log"))
	// Another key: the checkpoints do not verify.
	other := e.write("other.key", bytes.Repeat([]byte{1}, 32))
	r := fails(t, exitAuth, nil, "audit", "verify", "--key", other, log)
	if !strings.Contains(r.stderr, "checkpoint") {
		t.Errorf("wrong key: %s", r.stderr)
	}
	short := e.write("short.key", []byte("short"))
	fails(t, exitIO, nil, "audit", "verify", "--key", short, log)
	// Without the head file, truncation cannot be checked: said, not failed.
	if err := os.Remove(log + ".head"); err != nil {
		t.Fatal(err)
	}
	r = ok(t, nil, "audit", "verify", log)
	if !strings.Contains(r.stdout, "no head file") {
		t.Errorf("no head: %s", r.stdout)
	}
}
