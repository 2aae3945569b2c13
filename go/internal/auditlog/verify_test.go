package auditlog

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The engine writes the logs the suite of go/cmd/keyhold and
// tests/audit_test.cc verify; this file builds logs by hand, record by
// record as docs/spec/audit.md section 2 specifies them, so that each
// tamper case can be placed exactly.

var testKey = bytes.Repeat([]byte{0x42}, KeyLen)

type builder struct {
	seq   uint64
	prev  [32]byte
	lines [][]byte
	head  []byte
}

func (b *builder) add(body string) {
	b.seq++
	line := fmt.Sprintf(`{"v":1,"seq":%d,"time":"2026-11-24T03:40:00.000001Z","prev":"%s","pid":4242,%s`,
		b.seq, hex.EncodeToString(b.prev[:]), body)
	if strings.HasPrefix(body, `"type":"checkpoint"`) {
		m := hmac.New(sha256.New, testKey)
		m.Write([]byte(line))
		line += `,"mac":"` + hex.EncodeToString(m.Sum(nil)) + `"`
		b.head = []byte(line + "}\n")
	}
	line += "}"
	b.prev = sha256.Sum256([]byte(line))
	b.lines = append(b.lines, []byte(line))
}

func (b *builder) lifecycle(event string) {
	b.add(`"type":"lifecycle","event":"` + event + `","keyset":"00112233445566778899aabbccddeeff","key":7,"outcome":"KH_OK"`)
}

func (b *builder) use() {
	b.add(`"type":"use","keyset":"00112233445566778899aabbccddeeff","key":7,"op":"aead_encrypt","outcome":"KH_OK","count":1000,"bytes_in":64000,"bytes_out":92000,"from":"2026-11-24T03:40:00.000001Z","to":"2026-11-24T03:40:10.000001Z","caller":{"pid":99,"uid":1000,"gid":1000}`)
}

func (b *builder) checkpoint() { b.add(`"type":"checkpoint"`) }

// sample: 10 records, checkpoints at lines 5 and 10.
func sample() *builder {
	b := &builder{}
	b.lifecycle("create")
	b.use()
	b.lifecycle("rotate")
	b.add(`"type":"policy","op":"key_export","reason":"export_forbidden","outcome":"KH_E_POLICY_DENIED"`)
	b.checkpoint()
	b.add(`"type":"selftest","result":"passed"`)
	b.use()
	b.lifecycle("disable")
	b.add(`"type":"dropped","records":3`)
	b.checkpoint()
	return b
}

func write(t *testing.T, dir, name string, lines [][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func clone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = append([]byte(nil), l...)
	}
	return out
}

func TestVerifyIntact(t *testing.T) {
	b := sample()
	p := write(t, t.TempDir(), "audit.log", b.lines)
	rep, err := Verify([]string{p}, Options{Key: testKey, Head: b.head})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 10 || rep.Checkpoints != 2 || rep.FirstSeq != 1 || rep.LastSeq != 10 || rep.Unsealed != 0 || rep.HeadSeq != 10 {
		t.Errorf("report %+v", rep)
	}
}

// TestVerifyTamper: each kind of tampering is caught at the right line.
func TestVerifyTamper(t *testing.T) {
	b := sample()
	other := &builder{}
	other.lifecycle("destroy")
	cases := []struct {
		name   string
		edit   func([][]byte) [][]byte
		line   int
		reason string
	}{
		{"delete middle", func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) }, 3, "sequence 4 follows 2"},
		{"delete first", func(l [][]byte) [][]byte { return l[1:] }, 1, "chain does not start"},
		{"insert forged", func(l [][]byte) [][]byte {
			return append(l[:3], append([][]byte{other.lines[0]}, l[3:]...)...)
		}, 4, "sequence 1 follows 3"},
		{"duplicate", func(l [][]byte) [][]byte { return append(l[:3], append([][]byte{l[2]}, l[3:]...)...) }, 4, "sequence 3 follows 3"},
		{"reorder", func(l [][]byte) [][]byte { l[1], l[2] = l[2], l[1]; return l }, 2, "sequence 3 follows 1"},
		{"edit a count", func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`"count":1000`), []byte(`"count":1`), 1)
			return l
		}, 3, "hash chain broken"},
		{"edit last record before checkpoint", func(l [][]byte) [][]byte {
			l[8] = bytes.Replace(l[8], []byte(`"records":3`), []byte(`"records":0`), 1)
			return l
		}, 10, "hash chain broken"},
		{"edit and rechain without the key", func(l [][]byte) [][]byte {
			// Recompute every hash after the edit: only the checkpoint's
			// MAC, which needs the key, still catches it.
			r := &builder{}
			for i, line := range l {
				s := string(line)
				j := strings.Index(s, `"pid":4242,`)
				body := s[j+len(`"pid":4242,`) : len(s)-1]
				if i == 5 {
					body = strings.Replace(body, "passed", "failed", 1)
				}
				if k := strings.Index(body, `,"mac":"`); k >= 0 {
					body = body[:k]
				}
				r.add(body)
			}
			// Re-MAC'd with the test key; swap in another key's MAC.
			m := hmac.New(sha256.New, []byte("not the key, not the key, not th"))
			last := r.lines[9]
			k := bytes.LastIndex(last, []byte(`,"mac":"`))
			m.Write(last[:k])
			r.lines[9] = append(append([]byte(nil), last[:k]...), `,"mac":"`+hex.EncodeToString(m.Sum(nil))+`"}`...)
			return r.lines
		}, 10, "checkpoint MAC does not verify"},
		{"schema: unknown field", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"key":7`), []byte(`"key":7,"plaintext":"x"`), 1)
			return l
		}, 3, "unknown field"},
		{"schema: duplicate field", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"key":7`), []byte(`"key":7,"key":8`), 1)
			return l
		}, 3, "duplicate field"},
		{"schema: not JSON", func(l [][]byte) [][]byte { l[6] = []byte("garbage"); return l }, 7, "not a JSON object"},
		{"schema: bad version", func(l [][]byte) [][]byte {
			l[0] = bytes.Replace(l[0], []byte(`{"v":1,`), []byte(`{"v":2,`), 1)
			return l
		}, 1, "unsupported version"},
		{"schema: bad op", func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`aead_encrypt`), []byte(`aead_encryptx`), 1)
			return l
		}, 2, `field "op"`},
		{"empty line", func(l [][]byte) [][]byte { return append(l[:4], append([][]byte{{}}, l[4:]...)...) }, 5, "not a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "audit.log", c.edit(clone(b.lines)))
			_, err := Verify([]string{p}, Options{Key: testKey})
			var d *Defect
			if !errors.As(err, &d) || !errors.Is(err, ErrDefect) {
				t.Fatalf("err = %v, want a defect", err)
			}
			if d.Line != c.line || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("defect %v, want line %d with %q", d, c.line, c.reason)
			}
		})
	}
}

// TestVerifyTruncation: cutting records off the end before the newest
// checkpoint is caught through the head file; a torn last line always.
func TestVerifyTruncation(t *testing.T) {
	b := sample()
	dir := t.TempDir()
	p := write(t, dir, "audit.log", b.lines[:7])
	_, err := Verify([]string{p}, Options{Key: testKey, Head: b.head})
	var d *Defect
	if !errors.As(err, &d) || d.Line != 8 || !strings.Contains(d.Reason, "cut off") {
		t.Errorf("cut to 7 records: %v", err)
	}
	// Without the head the prefix is a valid (shorter) log: the limit
	// docs/spec/audit.md section 3.3 states.
	if rep, err := Verify([]string{p}, Options{Key: testKey}); err != nil || rep.Unsealed != 2 {
		t.Errorf("cut, no head: %+v, %v", rep, err)
	}
	// Torn: half a record at the end.
	full := write(t, dir, "torn.log", b.lines)
	data, _ := os.ReadFile(full)
	if err := os.WriteFile(full, data[:len(data)-20], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Verify([]string{full}, Options{Key: testKey})
	if !errors.As(err, &d) || d.Line != 10 || !strings.Contains(d.Reason, "incomplete") {
		t.Errorf("torn: %v", err)
	}
	// A head from another log (or forged) is refused.
	bad := bytes.Replace(b.head, []byte(`"seq":10`), []byte(`"seq":11`), 1)
	if _, err := Verify([]string{p}, Options{Key: testKey, Head: bad}); !errors.As(err, &d) || d.File != "head file" {
		t.Errorf("forged head: %v", err)
	}
}

// TestVerifyRotation: the chain runs across files; each tamper with the
// file set is caught.
func TestVerifyRotation(t *testing.T) {
	b := sample()
	b.add(`"type":"rotated","from":"audit.log.00000000000000000010"`)
	b.use()
	b.checkpoint()
	dir := t.TempDir()
	old := write(t, dir, "audit.log.00000000000000000010", b.lines[:10])
	live := write(t, dir, "audit.log", b.lines[10:])
	files, err := RotatedFiles(live)
	if err != nil || len(files) != 2 || files[0] != old || files[1] != live {
		t.Fatalf("RotatedFiles = %v, %v", files, err)
	}
	if rep, err := Verify(files, Options{Key: testKey, Head: b.head}); err != nil || rep.Records != 13 || rep.Files != 2 {
		t.Fatalf("rotated: %+v, %v", rep, err)
	}
	var d *Defect
	// The live file alone starts mid-chain ...
	if _, err := Verify([]string{live}, Options{Key: testKey}); !errors.As(err, &d) || d.File != live || d.Line != 1 {
		t.Errorf("live alone: %v", err)
	}
	// ... which --partial accepts.
	if _, err := Verify([]string{live}, Options{Key: testKey, Partial: true, Head: b.head}); err != nil {
		t.Errorf("live alone, partial: %v", err)
	}
	// Right after a rotation the head names the old file's last
	// checkpoint: the live file alone cannot be checked against it.
	oldHead := append([]byte(nil), b.lines[9]...)
	if rep, err := Verify([]string{live}, Options{Key: testKey, Partial: true, Head: append(oldHead, '\n')}); err != nil || rep.HeadSeq != 0 {
		t.Errorf("live alone, head in the old file: %+v, %v", rep, err)
	}
	if rep, err := Verify(files, Options{Key: testKey, Head: append(oldHead, '\n')}); err != nil || rep.HeadSeq != 10 {
		t.Errorf("both files, head in the old file: %+v, %v", rep, err)
	}
	// Files in the wrong order.
	if _, err := Verify([]string{live, old}, Options{Key: testKey}); !errors.As(err, &d) || d.File != live || d.Line != 1 {
		t.Errorf("swapped: %v", err)
	}
	// The old file's last record deleted: the new file's first record
	// names a hash that is not there.
	write(t, dir, "audit.log.00000000000000000010", b.lines[:9])
	if _, err := Verify(files, Options{Key: testKey}); !errors.As(err, &d) || d.File != live || d.Line != 1 {
		t.Errorf("old file cut: %v", err)
	}
	// A rotation record in the middle of a file.
	write(t, dir, "audit.log.00000000000000000010", b.lines[:10])
	lines := clone(b.lines[10:])
	lines = append(lines, lines[0])
	write(t, dir, "audit.log", lines)
	if _, err := Verify(files, Options{Key: testKey}); !errors.As(err, &d) || d.File != live || d.Line != 4 {
		t.Errorf("rotated record inside: %v", err)
	}
}

func TestVerifyBadArguments(t *testing.T) {
	p := write(t, t.TempDir(), "audit.log", sample().lines)
	if _, err := Verify([]string{p}, Options{Key: []byte("short")}); err == nil || errors.Is(err, ErrDefect) {
		t.Errorf("short key: %v", err)
	}
	if _, err := Verify(nil, Options{Key: testKey}); err == nil {
		t.Error("no files: no error")
	}
	if _, err := Verify([]string{p + ".missing"}, Options{Key: testKey}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	long := append(bytes.Repeat([]byte("x"), MaxRecordLen+10), '\n')
	lp := filepath.Join(t.TempDir(), "long.log")
	if err := os.WriteFile(lp, long, 0o600); err != nil {
		t.Fatal(err)
	}
	var d *Defect
	if _, err := Verify([]string{lp}, Options{Key: testKey}); !errors.As(err, &d) || d.Line != 1 {
		t.Errorf("long line: %v", err)
	}
}

// FuzzVerify: no input crashes the verifier, and a mutated log that still
// verifies must start with the original (records after the last
// checkpoint are chained, not authenticated: spec section 3.2).
func FuzzVerify(f *testing.F) {
	b := sample()
	var buf bytes.Buffer
	for _, l := range b.lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	orig := buf.Bytes()
	f.Add(orig)
	f.Add([]byte("{}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.log")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify([]string{p}, Options{Key: testKey, Head: b.head})
		if err == nil && !bytes.HasPrefix(data, orig) {
			t.Errorf("a different log verified against the head: %+v", rep)
		}
	})
}
