package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"keyhold.dev/keyhold"
)

// TestStreamAnySize: AEAD encrypt and decrypt stream, so an input far over
// the one-shot limit (lowered here to 1 KiB) round-trips, through files
// and through standard input and output.
func TestStreamAnySize(t *testing.T) {
	e := newEnv(t)
	small := func(a *app) { a.maxInput = 1024 }
	for _, typ := range []string{"aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305"} {
		ks := e.create(typ, typ+".keyset")
		pt := make([]byte, 300_000)
		rand.Read(pt)
		in := e.write("pt-"+typ, pt)
		r := cliWith(t, small, nil, "encrypt", "--keyset", ks, "--ad", "ctx", "-i", in, "-o", e.path("ct-"+typ))
		if r.code != 0 {
			t.Fatalf("%s encrypt: exit %d: %s", typ, r.code, r.stderr)
		}
		ct := e.read("ct-" + typ)
		if ct[0] != 0x81 || len(ct) != keyhold.StreamHeaderLen+len(pt)+5*keyhold.StreamTagLen {
			t.Fatalf("%s: not a stream of 5 segments (%d bytes)", typ, len(ct))
		}
		r = cliWith(t, small, ct, "decrypt", "--keyset", ks, "--ad", "ctx")
		if r.code != 0 || !bytes.Equal(r.out, pt) {
			t.Fatalf("%s decrypt from stdin: exit %d: %s", typ, r.code, r.stderr)
		}
		r = cliWith(t, small, pt, "encrypt", "--keyset", ks, "--ad", "ctx")
		if r.code != 0 {
			t.Fatalf("%s encrypt to stdout: exit %d", typ, r.code)
		}
		ct2 := e.write("ct2-"+typ, r.out)
		r = cliWith(t, small, nil, "decrypt", "--keyset", ks, "--ad", "ctx", "-i", ct2, "-o", e.path("back"))
		if r.code != 0 || !bytes.Equal(e.read("back"), pt) {
			t.Fatalf("%s decrypt to file: exit %d: %s", typ, r.code, r.stderr)
		}
	}
	noTempFiles(t, e.dir)
}

// TestStreamDamagedFiles: a truncated (at a segment boundary, inside a
// segment, right after the header), extended or altered stream exits 3 and
// leaves no output file, not even a partial one.
func TestStreamDamagedFiles(t *testing.T) {
	e := newEnv(t)
	ks := e.create("aes256-gcm", "k")
	pt := make([]byte, 3*keyhold.DefaultSegmentSize+100)
	rand.Read(pt)
	ok(t, pt, "encrypt", "--keyset", ks, "-o", e.path("ct"))
	ct := e.read("ct")
	seg := keyhold.DefaultSegmentSize + keyhold.StreamTagLen
	flip := func(i int) []byte { c := bytes.Clone(ct); c[i] ^= 4; return c }
	cases := map[string][]byte{
		"cut at a segment boundary": ct[:keyhold.StreamHeaderLen+2*seg],
		"cut inside a segment":      ct[:keyhold.StreamHeaderLen+2*seg+1000],
		"cut after the header":      ct[:keyhold.StreamHeaderLen],
		"one byte short":            ct[:len(ct)-1],
		"extended":                  append(bytes.Clone(ct), 0),
		"flipped in segment 0":      flip(keyhold.StreamHeaderLen + 5),
		"flipped in the last":       flip(len(ct) - 3),
		"flipped salt":              flip(20),
		"segments swapped": append(append(append(bytes.Clone(ct[:keyhold.StreamHeaderLen]),
			ct[keyhold.StreamHeaderLen+seg:keyhold.StreamHeaderLen+2*seg]...),
			ct[keyhold.StreamHeaderLen:keyhold.StreamHeaderLen+seg]...), ct[keyhold.StreamHeaderLen+2*seg:]...),
	}
	for name, bad := range cases {
		in := e.write("bad", bad)
		out := e.path("out")
		r := fails(t, exitAuth, nil, "decrypt", "--keyset", ks, "-i", in, "-o", out)
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: an output file was left (%v)", name, err)
		}
		if bytes.Contains([]byte(r.stderr), pt[:16]) {
			t.Errorf("%s: stderr holds plaintext", name)
		}
	}
	// Wrong associated data, another keyset.
	fails(t, exitAuth, ct, "decrypt", "--keyset", ks, "--ad", "x", "-o", e.path("out"))
	other := e.create("aes256-gcm", "other")
	r := fails(t, exitAuth, ct, "decrypt", "--keyset", other, "-o", e.path("out"))
	if !bytes.Contains([]byte(r.stderr), []byte("does not hold")) {
		t.Errorf("unknown key message: %s", r.stderr)
	}
	noTempFiles(t, e.dir)
}

// TestOneShotCiphertextStillDecrypts: ciphertexts of earlier versions (one
// AEAD message, first byte 0x01) keep decrypting.
func TestOneShotCiphertextStillDecrypts(t *testing.T) {
	e := newEnv(t)
	ksPath := e.create("chacha20-poly1305", "k")
	eng, err := keyhold.Open(keyhold.WithInProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	kek := must(eng.OpenKEK("file:" + filepath.Join(e.home, "master.key")))
	defer kek.Close()
	ks := must(eng.LoadKeyset(ksPath, kek))
	defer ks.Close()
	aead := must(ks.AEAD())
	ct := must(aead.Encrypt([]byte("written by keyhold 0.1"), []byte("ad")))
	r := ok(t, ct, "decrypt", "--keyset", ksPath, "--ad", "ad")
	if string(r.out) != "written by keyhold 0.1" {
		t.Fatalf("got %q", r.out)
	}
	fails(t, exitAuth, ct[:len(ct)-1], "decrypt", "--keyset", ksPath, "--ad", "ad")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
