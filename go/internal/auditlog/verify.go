// Package auditlog verifies keyhold audit logs offline
// (docs/spec/audit.md): the JSON schema of every record, the sequence
// numbers, the hash chain across rotated files, the HMAC-SHA256
// checkpoints and the head file. It needs no engine: only the log files
// and the checkpoint key.
package auditlog

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// MaxRecordLen bounds one record (spec section 2); a longer line is a
// defect, not something to buffer without limit.
const MaxRecordLen = 64 * 1024

// KeyLen is the checkpoint key's length.
const KeyLen = 32

// ErrDefect is what every *Defect matches with errors.Is.
var ErrDefect = errors.New("audit log defect")

// Defect is the first bad record found: the file, its 1-based line number
// and what is wrong. For a log cut short, Line is one past the last line.
type Defect struct {
	File   string
	Line   int
	Reason string
}

func (d *Defect) Error() string { return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Reason) }

// Is makes errors.Is(err, ErrDefect) true for every defect.
func (d *Defect) Is(target error) bool { return target == ErrDefect }

// Options: what to check beyond the chain and the schema.
type Options struct {
	// Key is the checkpoint key (KeyLen bytes). Required.
	Key []byte
	// Head is the content of the head file ("<log>.head"), nil to skip
	// the truncation check (spec section 3.3).
	Head []byte
	// Partial accepts a first file that starts mid-chain (its older
	// rotated predecessors archived away): the first record's prev is
	// then taken on trust.
	Partial bool
}

// Report summarises a log that verified.
type Report struct {
	Files       int
	Records     int
	Checkpoints int
	FirstSeq    uint64
	LastSeq     uint64
	// Unsealed: records after the last checkpoint. A live log may end so;
	// they are chained but not yet authenticated (spec section 3.2).
	Unsealed int
	// HeadSeq: the checkpoint the head file names and the log was checked
	// against (0 without a head, or if it names a record before the
	// first file given).
	HeadSeq uint64
}

var (
	hex64      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hex32      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	reasonRe   = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	statusRe   = regexp.MustCompile(`^KH_[A-Z0-9_]{1,48}$`)
	opNames    = set("aead_encrypt", "aead_decrypt", "aead_seal_nonce", "aead_open_nonce", "daead_encrypt", "daead_decrypt", "mac_compute", "mac_verify", "sig_sign", "sig_verify", "sig_sign_plain", "sig_sign_digest", "sig_verify_plain", "kex_agree", "kdf_derive", "key_export", "key_import", "daemon_request", "stream_encrypt", "stream_decrypt")
	eventNames = set("create", "import", "rotate", "set_primary", "disable", "enable", "destroy", "export", "load", "save")
	zeroHash   = strings.Repeat("0", 64)
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// field kinds of the schema.
type kind int

const (
	kUint kind = iota
	kInt
	kTime
	kHash
	kKeyset
	kOp
	kEvent
	kStatus
	kReason
	kText
	kCaller
	kResult
	kFileName
)

// schema: the fields of each record type besides the common ones
// (v, seq, time, prev, pid, type); optional ones are marked.
type fieldSpec struct {
	kind     kind
	optional bool
}

var common = map[string]fieldSpec{
	"v": {kind: kUint}, "seq": {kind: kUint}, "time": {kind: kTime}, "prev": {kind: kHash}, "pid": {kind: kInt},
	"type": {kind: kText},
}

var schemas = map[string]map[string]fieldSpec{
	"use": {
		"keyset": {kind: kKeyset}, "key": {kind: kUint}, "op": {kind: kOp}, "outcome": {kind: kStatus},
		"count": {kind: kUint}, "bytes_in": {kind: kUint}, "bytes_out": {kind: kUint},
		"from": {kind: kTime}, "to": {kind: kTime}, "caller": {kind: kCaller, optional: true},
	},
	"lifecycle": {
		"event": {kind: kEvent}, "keyset": {kind: kKeyset}, "key": {kind: kUint}, "outcome": {kind: kStatus},
		"caller": {kind: kCaller, optional: true},
	},
	"policy": {
		"op": {kind: kOp}, "reason": {kind: kReason}, "outcome": {kind: kStatus},
		"keyset": {kind: kKeyset, optional: true}, "caller": {kind: kCaller, optional: true},
	},
	"selftest": {
		"result": {kind: kResult}, "test": {kind: kText, optional: true}, "caller": {kind: kCaller, optional: true},
	},
	"dropped":    {"records": {kind: kUint}},
	"checkpoint": {"mac": {kind: kHash}},
	"rotated":    {"from": {kind: kFileName}},
}

// record is one parsed line.
type record struct {
	seq  uint64
	prev string
	typ  string
}

// checkField checks one value against its kind.
func checkField(name string, raw json.RawMessage, k kind) error {
	switch k {
	case kUint, kInt:
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&n); err != nil {
			return fmt.Errorf("field %q is not a number", name)
		}
		s := n.String()
		if k == kInt && strings.HasPrefix(s, "-") {
			s = s[1:]
		}
		if s == "" || strings.ContainsAny(s, ".eE+-") || (len(s) > 1 && s[0] == '0') || len(s) > 20 {
			return fmt.Errorf("field %q is not an integer", name)
		}
		return nil
	case kCaller:
		var c map[string]json.RawMessage
		if err := json.Unmarshal(raw, &c); err != nil || len(c) != 3 {
			return fmt.Errorf("field %q is not a caller {pid, uid, gid}", name)
		}
		for _, f := range []string{"pid", "uid", "gid"} {
			v, ok := c[f]
			if !ok {
				return fmt.Errorf("field %q lacks %q", name, f)
			}
			if err := checkField(name+"."+f, v, kInt); err != nil {
				return err
			}
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("field %q is not a string", name)
	}
	ok := true
	switch k {
	case kTime:
		_, err := time.Parse(time.RFC3339Nano, s)
		ok = err == nil && strings.HasSuffix(s, "Z")
	case kHash:
		ok = hex64.MatchString(s)
	case kKeyset:
		ok = hex32.MatchString(s)
	case kOp:
		ok = opNames[s]
	case kEvent:
		ok = eventNames[s]
	case kStatus:
		ok = statusRe.MatchString(s)
	case kReason:
		ok = reasonRe.MatchString(s) || s == "invalid_reason"
	case kResult:
		ok = s == "passed" || s == "failed"
	case kFileName:
		ok = s != "" && !strings.ContainsAny(s, "/\x00")
	case kText:
		ok = len(s) <= 128
	}
	if !ok {
		return fmt.Errorf("field %q has an invalid value %q", name, truncate(s))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// parse checks one line's JSON against the schema.
func parse(line []byte) (record, error) {
	var fields map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(line))
	if err := d.Decode(&fields); err != nil {
		return record{}, fmt.Errorf("not a JSON object: %v", err)
	}
	if d.More() {
		return record{}, errors.New("trailing data after the JSON object")
	}
	if n := countKeys(line); n != len(fields) {
		return record{}, errors.New("duplicate field")
	}
	var typ string
	if raw, ok := fields["type"]; !ok || json.Unmarshal(raw, &typ) != nil {
		return record{}, errors.New(`missing or invalid field "type"`)
	}
	schema, ok := schemas[typ]
	if !ok {
		return record{}, fmt.Errorf("unknown record type %q", truncate(typ))
	}
	for name, spec := range common {
		raw, ok := fields[name]
		if !ok {
			return record{}, fmt.Errorf("missing field %q", name)
		}
		if err := checkField(name, raw, spec.kind); err != nil {
			return record{}, err
		}
	}
	for name, spec := range schema {
		raw, ok := fields[name]
		if !ok {
			if spec.optional {
				continue
			}
			return record{}, fmt.Errorf("missing field %q", name)
		}
		if err := checkField(name, raw, spec.kind); err != nil {
			return record{}, err
		}
	}
	for name := range fields {
		if _, ok := common[name]; ok {
			continue
		}
		if _, ok := schema[name]; !ok {
			return record{}, fmt.Errorf("unknown field %q in a %s record", truncate(name), typ)
		}
	}
	var v uint64
	if json.Unmarshal(fields["v"], &v) != nil || v != 1 {
		return record{}, fmt.Errorf("unsupported version %s", fields["v"])
	}
	var r record
	r.typ = typ
	if json.Unmarshal(fields["seq"], &r.seq) != nil || r.seq == 0 {
		return record{}, errors.New(`field "seq" must be a positive integer`)
	}
	_ = json.Unmarshal(fields["prev"], &r.prev)
	return r, nil
}

// countKeys counts the top-level keys of a JSON object (encoding/json
// keeps the last of duplicates silently).
func countKeys(line []byte) int {
	d := json.NewDecoder(bytes.NewReader(line))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return -1
	}
	n := 0
	for d.More() {
		if _, err := d.Token(); err != nil {
			return -1
		}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return -1
		}
		n++
	}
	return n
}

// macField is how the checkpoint MAC field starts; it must be the last.
var macField = []byte(`,"mac":"`)

// checkMAC verifies a checkpoint's HMAC over everything before its mac
// field (spec section 3.2).
func checkMAC(line, key []byte) error {
	i := bytes.LastIndex(line, macField)
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || len(line)-i != len(macField)+64+2 {
		return errors.New(`checkpoint: "mac" is not the last field`)
	}
	got, err := hex.DecodeString(string(line[i+len(macField) : len(line)-2]))
	if err != nil {
		return errors.New("checkpoint: malformed mac")
	}
	m := hmac.New(sha256.New, key)
	m.Write(line[:i])
	if !hmac.Equal(got, m.Sum(nil)) {
		return errors.New("checkpoint MAC does not verify (the records before it were altered, or another key)")
	}
	return nil
}

// Verify checks files, oldest first (rotated files before the live log),
// as one chain. It returns a *Defect (errors.Is(err, ErrDefect)) for the
// first bad record, or another error if a file cannot be read.
func Verify(files []string, opt Options) (Report, error) {
	var rep Report
	if len(opt.Key) != KeyLen {
		return rep, fmt.Errorf("the checkpoint key must be %d bytes, not %d", KeyLen, len(opt.Key))
	}
	if len(files) == 0 {
		return rep, errors.New("no log file")
	}
	var head []byte
	var headSeq uint64
	if opt.Head != nil {
		head = bytes.TrimSuffix(opt.Head, []byte("\n"))
		hr, err := parse(head)
		if err != nil || hr.typ != "checkpoint" || bytes.Contains(head, []byte("\n")) {
			return rep, &Defect{File: "head file", Line: 1, Reason: "the head file is not one checkpoint record"}
		}
		if err := checkMAC(head, opt.Key); err != nil {
			return rep, &Defect{File: "head file", Line: 1, Reason: err.Error()}
		}
		headSeq = hr.seq
		rep.HeadSeq = headSeq
	}
	var (
		prevLine  []byte
		prevSeq   uint64
		have      bool
		headFound bool
		lastFile  string
		lastLine  int
	)
	for fi, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return rep, err
		}
		rd := bufio.NewReaderSize(f, 64*1024)
		lineNo := 0
		for {
			line, err := rd.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				f.Close()
				return rep, &Defect{name, lineNo + 1, fmt.Sprintf("record longer than %d bytes", MaxRecordLen)}
			}
			if err == io.EOF {
				if len(line) != 0 {
					f.Close()
					return rep, &Defect{name, lineNo + 1, "incomplete last record (no newline): the file was cut or a write was torn"}
				}
				break
			}
			if err != nil {
				f.Close()
				return rep, err
			}
			lineNo++
			line = line[:len(line)-1]
			r, perr := parse(line)
			if perr != nil {
				f.Close()
				return rep, &Defect{name, lineNo, perr.Error()}
			}
			if d := chainCheck(name, lineNo, fi, r, have, prevSeq, prevLine, opt.Partial); d != nil {
				f.Close()
				return rep, d
			}
			if r.typ == "checkpoint" {
				if err := checkMAC(line, opt.Key); err != nil {
					f.Close()
					return rep, &Defect{name, lineNo, err.Error()}
				}
				rep.Checkpoints++
				rep.Unsealed = 0
			} else {
				rep.Unsealed++
			}
			if headSeq != 0 && r.seq == headSeq {
				if !bytes.Equal(line, head) {
					f.Close()
					return rep, &Defect{name, lineNo, fmt.Sprintf("record %d differs from the checkpoint the head file names", r.seq)}
				}
				headFound = true
			}
			if !have {
				rep.FirstSeq = r.seq
			}
			rep.Records++
			prevLine = append(prevLine[:0], line...)
			prevSeq = r.seq
			have = true
		}
		f.Close()
		if lineNo == 0 && fi != len(files)-1 {
			return rep, &Defect{name, 1, "empty file inside the chain"}
		}
		lastFile, lastLine = name, lineNo
	}
	rep.Files = len(files)
	rep.LastSeq = prevSeq
	if headSeq != 0 && !headFound && headSeq < rep.FirstSeq {
		// The head names a checkpoint in an older file than those given
		// (--partial, right after a rotation): nothing to compare.
		rep.HeadSeq = 0
		headFound = true
	}
	if headSeq != 0 && !headFound {
		return rep, &Defect{lastFile, lastLine + 1, fmt.Sprintf("the log ends at record %d (or lacks it), but the head file names checkpoint %d: records were cut off", prevSeq, headSeq)}
	}
	return rep, nil
}

// chainCheck: sequence and hash continuity of r after the previous record.
func chainCheck(name string, line, fileIndex int, r record, have bool, prevSeq uint64, prevLine []byte, partial bool) *Defect {
	if !have {
		if partial {
			return nil
		}
		if r.seq != 1 || r.prev != zeroHash {
			return &Defect{name, line, fmt.Sprintf("the chain does not start here (record %d names a predecessor): a rotated file is missing before it, or its first records were deleted (--partial accepts a log whose older files were archived)", r.seq)}
		}
		return nil
	}
	if r.typ == "rotated" && line != 1 {
		return &Defect{name, line, "a rotation record inside a file"}
	}
	if line == 1 && fileIndex > 0 && r.typ != "rotated" {
		return &Defect{name, line, "a file after the first must start with its rotation record"}
	}
	if r.seq != prevSeq+1 {
		return &Defect{name, line, fmt.Sprintf("sequence %d follows %d: records were deleted, inserted or reordered", r.seq, prevSeq)}
	}
	sum := sha256.Sum256(prevLine)
	if r.prev != hex.EncodeToString(sum[:]) {
		return &Defect{name, line, "hash chain broken: the previous record was altered, or this one does not belong here"}
	}
	return nil
}

// RotatedFiles returns the rotated predecessors of the log at path
// ("<path>.<20-digit sequence>"), oldest first, followed by path itself.
func RotatedFiles(path string) ([]string, error) {
	matches, err := filepath.Glob(path + ".[0-9]*")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		suffix := strings.TrimPrefix(m, path+".")
		if len(suffix) == 20 && strings.Trim(suffix, "0123456789") == "" {
			out = append(out, m)
		}
	}
	// Glob sorts lexically; fixed-width numbers sort as numbers.
	return append(out, path), nil
}
