package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"keyhold.dev/keyhold"
)

// secret is a plaintext marker that must never appear on stderr.
var secret = []byte("SECRET-PLAINTEXT-MARKER card 4111-1111-1111-1111")

func TestEncryptDecryptEveryType(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []string{"aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305", "aes256-siv"} {
		t.Run(typ, func(t *testing.T) {
			ks := e.create(typ, typ+".keyset")
			in := e.write(typ+".txt", secret)
			ok(t, nil, "encrypt", "--keyset", ks, "-i", in, "-o", e.path(typ+".khe"), "--ad", "customer 42")
			ct := e.read(typ + ".khe")
			if bytes.Contains(ct, secret) {
				t.Fatal("ciphertext contains the plaintext")
			}
			r := ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path(typ+".khe"), "--ad", "customer 42")
			if !bytes.Equal(r.out, secret) {
				t.Fatalf("decrypt to stdout = %q", r.out)
			}
			// stdin to stdout, the empty message too.
			for _, msg := range [][]byte{secret, {}} {
				ct := ok(t, msg, "encrypt", "--keyset", ks).out
				pt := ok(t, ct, "decrypt", "--keyset", ks, "-o", e.path(typ+".out")).out
				if len(pt) != 0 || !bytes.Equal(e.read(typ+".out"), msg) {
					t.Fatalf("stdin round trip of %d bytes failed", len(msg))
				}
			}
			if fi, err := os.Stat(e.path(typ + ".out")); err != nil || fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("plaintext output mode %v (want no group/other access), %v", fi.Mode(), err)
			}
			fails(t, exitAuth, nil, "decrypt", "--keyset", ks, "-i", e.path(typ+".khe"), "--ad", "customer 43")
			noTempFiles(t, e.dir)
		})
	}
}

func TestSignVerify(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []string{"ed25519", "ecdsa-p256"} {
		t.Run(typ, func(t *testing.T) {
			ks := e.create(typ, typ+".keyset")
			msg := e.write(typ+".msg", secret)
			sig := e.path(typ + ".sig")
			ok(t, nil, "sign", "--keyset", ks, "-i", msg, "-o", sig)
			r := ok(t, nil, "verify", "--keyset", ks, "--sig", sig, "-i", msg)
			if !strings.HasPrefix(r.stdout, "verified") {
				t.Errorf("verify printed %q", r.stdout)
			}
			r = ok(t, secret, "verify", "--keyset", ks, "--sig", sig, "--json")
			var v struct {
				Valid bool   `json:"valid"`
				Key   uint32 `json:"key"`
			}
			if err := json.Unmarshal(r.out, &v); err != nil || !v.Valid || v.Key == 0 {
				t.Errorf("verify --json = %s, %v", r.out, err)
			}
			// Altered message, altered signature, truncated signature.
			fails(t, exitAuth, append(bytes.Clone(secret), '!'), "verify", "--keyset", ks, "--sig", sig)
			s := e.read(typ + ".sig")
			bad := bytes.Clone(s)
			bad[len(bad)-1] ^= 1
			e.write("bad.sig", bad)
			fails(t, exitAuth, secret, "verify", "--keyset", ks, "--sig", e.path("bad.sig"))
			e.write("short.sig", s[:len(s)/2])
			fails(t, exitAuth, secret, "verify", "--keyset", ks, "--sig", e.path("short.sig"))
			e.write("tiny.sig", s[:3])
			fails(t, exitAuth, secret, "verify", "--keyset", ks, "--sig", e.path("tiny.sig"))
			// A signature by another keyset of the same type.
			other := e.create(typ, typ+".other")
			ok(t, secret, "sign", "--keyset", other, "-o", e.path("other.sig"))
			fails(t, exitAuth, secret, "verify", "--keyset", ks, "--sig", e.path("other.sig"))
		})
	}
}

func TestMAC(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []string{"hmac-sha256", "hmac-sha512"} {
		t.Run(typ, func(t *testing.T) {
			ks := e.create(typ, typ+".keyset")
			ok(t, secret, "mac", "--keyset", ks, "-o", e.path("tag"))
			ok(t, secret, "mac", "--keyset", ks, "--verify", e.path("tag"))
			fails(t, exitAuth, []byte("other message"), "mac", "--keyset", ks, "--verify", e.path("tag"))
			tag := e.read("tag")
			tag[len(tag)-1] ^= 0x80
			e.write("tag", tag)
			fails(t, exitAuth, secret, "mac", "--keyset", ks, "--verify", e.path("tag"))
			fails(t, exitUsage, secret, "mac", "--keyset", ks, "--verify", e.path("tag"), "-o", e.path("x"))
		})
	}
}

// keysetInfo is `keyset info --json`.
type keysetInfo struct {
	FormatVersion int    `json:"format_version"`
	KeysetID      string `json:"keyset_id"`
	Type          string `json:"type"`
	Primary       uint32 `json:"primary"`
	Exportable    bool   `json:"exportable"`
	KEK           string `json:"kek"`
	Keys          []struct {
		ID       uint32 `json:"id"`
		Status   string `json:"status"`
		Primary  bool   `json:"primary"`
		Created  string `json:"created"`
		UseCount uint64 `json:"use_count"`
	} `json:"keys"`
}

func info(t *testing.T, ks string) keysetInfo {
	t.Helper()
	var i keysetInfo
	r := ok(t, nil, "keyset", "info", ks, "--json")
	if err := json.Unmarshal(r.out, &i); err != nil {
		t.Fatalf("keyset info --json: %v: %s", err, r.out)
	}
	return i
}

func TestRotateDisableEnableDestroy(t *testing.T) {
	e := newEnv(t)
	ks := e.create("aes256-gcm", "app.keyset")
	first := info(t, ks).Primary
	ok(t, secret, "encrypt", "--keyset", ks, "-o", e.path("old.khe"))

	r := ok(t, nil, "keyset", "rotate", ks, "--json")
	var rot struct{ Primary uint32 }
	if err := json.Unmarshal(r.out, &rot); err != nil || rot.Primary == 0 || rot.Primary == first {
		t.Fatalf("rotate --json = %s (%v)", r.out, err)
	}
	i := info(t, ks)
	if i.Primary != rot.Primary || len(i.Keys) != 2 {
		t.Fatalf("after rotate: %+v", i)
	}
	// The old ciphertext still decrypts; a new one names the new key.
	if pt := ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path("old.khe")).out; !bytes.Equal(pt, secret) {
		t.Fatal("old ciphertext does not decrypt after rotation")
	}
	ok(t, secret, "encrypt", "--keyset", ks, "-o", e.path("new.khe"))

	id := strconv.FormatUint(uint64(first), 10)
	hexID := fmt.Sprintf("%#x", first)
	ok(t, nil, "keyset", "disable", ks, "--key", hexID)
	fails(t, exitPolicy, nil, "decrypt", "--keyset", ks, "-i", e.path("old.khe"))
	ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path("new.khe"))
	ok(t, nil, "keyset", "enable", ks, "--key", id)
	ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path("old.khe"))
	ok(t, nil, "keyset", "destroy", ks, "--key", id)
	fails(t, exitPolicy, nil, "decrypt", "--keyset", ks, "-i", e.path("old.khe"))
	ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path("new.khe"))
	if i := info(t, ks); i.Keys[0].Status != "destroyed" || i.Keys[1].Status != "enabled" {
		t.Errorf("key states after destroy: %+v", i.Keys)
	}

	primary := strconv.FormatUint(uint64(rot.Primary), 10)
	fails(t, exitUsage, nil, "keyset", "disable", ks, "--key", primary)
	fails(t, exitUsage, nil, "keyset", "destroy", ks, "--key", primary)
	fails(t, exitUsage, nil, "keyset", "disable", ks, "--key", "12345")
	fails(t, exitUsage, nil, "keyset", "disable", ks, "--key", "zero")
	fails(t, exitUsage, nil, "keyset", "disable", ks)
}

// TestInfoNeedsNoKEK: the metadata is readable with no KEK at all, and
// reading it creates none.
func TestInfoNeedsNoKEK(t *testing.T) {
	e := newEnv(t)
	ks := e.create("ed25519", "sig.keyset", "--exportable")
	ok(t, secret, "sign", "--keyset", ks, "-o", e.path("sig"))
	ok(t, secret, "sign", "--keyset", ks, "-o", e.path("sig"))

	empty := filepath.Join(t.TempDir(), "no-home")
	t.Setenv("KEYHOLD_HOME", empty)
	t.Setenv("KEYHOLD_KEK", "file:"+filepath.Join(empty, "absent.key"))
	r := ok(t, nil, "keyset", "info", ks)
	for _, want := range []string{"ed25519", "exportable", "not needed", "primary"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keyset info lacks %q:\n%s", want, r.stdout)
		}
	}
	i := info(t, ks)
	if i.Type != "ed25519" || !i.Exportable || i.KEK == "" || len(i.Keys) != 1 || !i.Keys[0].Primary ||
		i.Keys[0].Status != "enabled" || i.Keys[0].Created == "" || i.FormatVersion == 0 || i.KeysetID == "" {
		t.Errorf("keyset info --json = %+v", i)
	}
	// Use counts persist: each sign saved the keyset.
	if i.Keys[0].UseCount != 2 {
		t.Errorf("use count after two signatures = %d, want 2", i.Keys[0].UseCount)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("keyset info created %s (%v)", empty, err)
	}
	// Everything else does need the KEK.
	fails(t, exitKEK, secret, "sign", "--keyset", ks)
}

// TestUsageLimitPersists: the AEAD usage limit holds across runs because
// every encryption saves its use count.
func TestUsageLimitPersists(t *testing.T) {
	e := newEnv(t)
	t.Setenv("KEYHOLD_AEAD_MAX_MESSAGES", "3")
	ks := e.create("aes256-gcm", "limited.keyset")
	for range 3 {
		ok(t, secret, "encrypt", "--keyset", ks)
	}
	r := fails(t, exitPolicy, secret, "encrypt", "--keyset", ks, "-o", e.path("refused"))
	if !strings.Contains(r.stderr, "rotate") {
		t.Errorf("limit message does not say to rotate: %s", r.stderr)
	}
	if _, err := os.Stat(e.path("refused")); !os.IsNotExist(err) {
		t.Error("a refused encryption wrote an output")
	}
	ok(t, nil, "keyset", "rotate", ks)
	ok(t, secret, "encrypt", "--keyset", ks)
}

// TestConcurrentUseCounts: concurrent runs lose no use count (the keyset
// directory lock serializes load-use-save).
func TestConcurrentUseCounts(t *testing.T) {
	e := newEnv(t)
	ks := e.create("hmac-sha256", "mac.keyset")
	const workers, each = 6, 5
	var wg sync.WaitGroup
	codes := make(chan int, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				var out, errb bytes.Buffer
				codes <- newApp(bytes.NewReader(secret), &out, &errb).run([]string{"mac", "--keyset", ks})
			}
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != exitOK {
			t.Fatalf("a concurrent mac failed with exit %d", c)
		}
	}
	if n := info(t, ks).Keys[0].UseCount; n != workers*each {
		t.Errorf("use count = %d after %d concurrent MACs", n, workers*each)
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	aes := e.create("aes256-gcm", "aes.keyset")
	ed := e.create("ed25519", "ed.keyset")
	hm := e.create("hmac-sha256", "hmac.keyset")
	ok(t, secret, "encrypt", "--keyset", aes, "-o", e.path("ct"))
	ok(t, secret, "sign", "--keyset", ed, "-o", e.path("sig"))
	ct := e.read("ct")
	ksBytes, err := os.ReadFile(aes)
	if err != nil {
		t.Fatal(err)
	}
	flipped := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	otherAES := e.create("aes256-gcm", "other.keyset")

	// Another KEK: a second home's master key.
	other := newEnv(t)
	other.create("aes256-gcm", "x.keyset")
	wrongKEK := other.kek()
	t.Setenv("KEYHOLD_HOME", e.home)

	notDir := e.write("plainfile", []byte("x"))
	tests := []struct {
		name  string
		code  int
		stdin []byte
		args  []string
	}{
		// 2: usage
		{"no such command", exitUsage, nil, []string{"frobnicate"}},
		{"unknown flag", exitUsage, nil, []string{"encrypt", "--keyset", aes, "--nope"}},
		{"missing --keyset", exitUsage, nil, []string{"encrypt"}},
		{"extra argument", exitUsage, nil, []string{"encrypt", "--keyset", aes, "extra"}},
		{"missing FILE", exitUsage, nil, []string{"keyset", "rotate"}},
		{"bad --type", exitUsage, nil, []string{"keyset", "create", "--type", "des", "--out", e.path("des")}},
		{"bad --format", exitUsage, nil, []string{"keyset", "export-public", ed, "--format", "ssh"}},
		{"bad --kek", exitUsage, nil, []string{"encrypt", "--keyset", aes, "--kek", "vault:x"}},
		{"unknown keyset command", exitUsage, nil, []string{"keyset", "frobnicate"}},
		{"output over the keyset", exitUsage, secret, []string{"encrypt", "--keyset", aes, "-o", aes}},
		{"output over the KEK", exitUsage, secret, []string{"encrypt", "--keyset", aes, "-o", filepath.Join(e.home, "master.key")}},
		{"signature and input both on stdin", exitUsage, secret, []string{"verify", "--keyset", ed, "--sig", "-"}},
		{"binary to terminal", exitUsage, secret, []string{"encrypt", "--keyset", aes}}, // see tty below

		// 3: authentication
		{"tampered ciphertext", exitAuth, flipped(ct, len(ct)/2), []string{"decrypt", "--keyset", aes}},
		{"tampered header", exitAuth, flipped(ct, 3), []string{"decrypt", "--keyset", aes}},
		{"truncated ciphertext", exitAuth, ct[:10], []string{"decrypt", "--keyset", aes}},
		{"empty ciphertext", exitAuth, []byte{}, []string{"decrypt", "--keyset", aes}},
		{"wrong associated data", exitAuth, ct, []string{"decrypt", "--keyset", aes, "--ad", "x"}},
		{"another keyset's ciphertext", exitAuth, ct, []string{"decrypt", "--keyset", otherAES}},
		{"bad signature", exitAuth, []byte("other"), []string{"verify", "--keyset", ed, "--sig", e.path("sig")}},
		{"corrupted keyset file (magic)", exitAuth, ct, []string{"decrypt", "--keyset", e.write("corrupt.keyset", flipped(ksBytes, 0))}},
		// An altered sealed part is indistinguishable from a wrong KEK
		// (see loadError): exit 6, with a message naming both.
		{"corrupted keyset file (sealed part)", exitKEK, ct, []string{"decrypt", "--keyset", e.write("sealed.keyset", flipped(ksBytes, len(ksBytes)-5))}},
		{"truncated keyset file", exitAuth, ct, []string{"decrypt", "--keyset", e.write("trunc.keyset", ksBytes[:len(ksBytes)/2])}},
		{"empty keyset file", exitAuth, ct, []string{"decrypt", "--keyset", e.write("empty.keyset", nil)}},

		// 4: policy and limits
		{"not exportable", exitPolicy, nil, []string{"keyset", "export-wrapped", aes, "--to-kek", wrongKEK[len("--kek="):], "-o", e.path("w")}},
		{"input over the limit", exitPolicy, make([]byte, 1025), []string{"sign", "--keyset", ed, "-o", e.path("big")}},

		// 5: I/O
		{"missing keyset", exitIO, secret, []string{"encrypt", "--keyset", e.path("absent.keyset")}},
		{"missing input", exitIO, nil, []string{"encrypt", "--keyset", aes, "-i", e.path("absent")}},
		{"input is a directory", exitIO, nil, []string{"encrypt", "--keyset", aes, "-i", e.dir}},
		{"missing output directory", exitIO, secret, []string{"encrypt", "--keyset", aes, "-o", e.path("no/such/dir/out")}},
		{"output under a file", exitIO, secret, []string{"encrypt", "--keyset", aes, "-o", filepath.Join(notDir, "out")}},
		{"output is a directory", exitIO, secret, []string{"encrypt", "--keyset", aes, "-o", e.dir}},
		{"missing signature file", exitIO, secret, []string{"verify", "--keyset", ed, "--sig", e.path("absent.sig")}},
		{"create over existing", exitIO, nil, []string{"keyset", "create", "--type", "aes256-gcm", "--out", aes}},
		{"create in missing dir", exitIO, nil, []string{"keyset", "create", "--type", "aes256-gcm", "--out", e.path("none/k")}},

		// 6: KEK
		{"wrong KEK", exitKEK, ct, []string{"decrypt", "--keyset", aes, wrongKEK}},
		{"missing KEK file", exitKEK, ct, []string{"decrypt", "--keyset", aes, "--kek", "file:" + e.path("absent.kek")}},
		{"unset KEK variable", exitKEK, ct, []string{"decrypt", "--keyset", aes, "--kek", "env:KEYHOLD_TEST_NO_SUCH_VARIABLE"}},

		// 7: wrong keyset type
		{"sign with AEAD", exitWrongType, secret, []string{"sign", "--keyset", aes}},
		{"encrypt with Ed25519", exitWrongType, secret, []string{"encrypt", "--keyset", ed}},
		{"decrypt with HMAC", exitWrongType, ct, []string{"decrypt", "--keyset", hm}},
		{"verify with AEAD", exitWrongType, secret, []string{"verify", "--keyset", aes, "--sig", e.path("sig")}},
		{"mac with Ed25519", exitWrongType, secret, []string{"mac", "--keyset", ed}},
		{"export-public of AEAD", exitWrongType, nil, []string{"keyset", "export-public", aes}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cliWith(t, func(a *app) {
				a.maxInput = 1024
				if tc.name == "binary to terminal" {
					a.forceTTY = func(v any) bool { return v == a.stdout }
				}
			}, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			if bytes.Contains([]byte(r.stderr), secret[:20]) {
				t.Errorf("stderr holds the plaintext: %q", r.stderr)
			}
			if tc.code != exitUsage && len(r.out) != 0 {
				t.Errorf("a failed run wrote %d bytes to stdout", len(r.out))
			}
		})
	}
	noTempFiles(t, e.dir)
}

// TestUnwritableOutputDirectory needs a user the permission bits apply to.
func TestUnwritableOutputDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	e := newEnv(t)
	ks := e.create("aes256-gcm", "k")
	ro := e.path("ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	fails(t, exitIO, secret, "encrypt", "--keyset", ks, "-o", filepath.Join(ro, "out"))
	unreadable := e.path("unreadable")
	e.write("unreadable", secret)
	os.Chmod(unreadable, 0)
	fails(t, exitIO, nil, "encrypt", "--keyset", ks, "-i", unreadable)
}

// TestNoPartialPlaintext: a failed decryption leaves an existing output
// as it was, creates no output otherwise, and leaves no temporary file.
func TestNoPartialPlaintext(t *testing.T) {
	e := newEnv(t)
	ks := e.create("chacha20-poly1305", "k")
	big := bytes.Repeat(secret, 20000) // ~1 MB, so a partial write would be visible
	ct := ok(t, big, "encrypt", "--keyset", ks).out
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1

	out := e.write("existing", []byte("previous content"))
	fails(t, exitAuth, bad, "decrypt", "--keyset", ks, "-o", out)
	if got := e.read("existing"); string(got) != "previous content" {
		t.Errorf("a failed decryption changed the output to %d bytes", len(got))
	}
	fails(t, exitAuth, bad, "decrypt", "--keyset", ks, "-o", e.path("fresh"))
	if _, err := os.Stat(e.path("fresh")); !os.IsNotExist(err) {
		t.Errorf("a failed decryption created its output (%v)", err)
	}
	noTempFiles(t, e.dir)
	// The good ciphertext replaces the old content completely.
	ok(t, ct, "decrypt", "--keyset", ks, "-o", out)
	if !bytes.Equal(e.read("existing"), big) {
		t.Error("decrypt over an existing file did not replace it")
	}
}

// TestDecryptDoesNotWriteKeyset: only uses that change a count save the
// keyset, so decrypt and verify work on a keyset file they cannot write.
func TestDecryptDoesNotWriteKeyset(t *testing.T) {
	e := newEnv(t)
	ks := e.create("aes256-gcm", "k")
	ct := ok(t, secret, "encrypt", "--keyset", ks).out
	before, _ := os.ReadFile(ks)
	fiBefore, _ := os.Stat(ks)
	ok(t, ct, "decrypt", "--keyset", ks)
	after, _ := os.ReadFile(ks)
	fiAfter, _ := os.Stat(ks)
	if !bytes.Equal(before, after) || !fiBefore.ModTime().Equal(fiAfter.ModTime()) {
		t.Error("decrypt rewrote the keyset file")
	}
	if fi, err := os.Stat(ks); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keyset file mode %v, %v", fi.Mode(), err)
	}
}

func TestExportPublic(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []string{"ed25519", "ecdsa-p256"} {
		t.Run(typ, func(t *testing.T) {
			ks := e.create(typ, typ)
			ok(t, nil, "keyset", "export-public", ks, "-o", e.path(typ+".pem"))
			block, _ := pem.Decode(e.read(typ + ".pem"))
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatal("no PUBLIC KEY block")
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			// A keyhold signature verifies with the exported key and the
			// standard library: header || signature over header || message
			// (docs/spec/formats.md).
			sig := ok(t, secret, "sign", "--keyset", ks).out
			signed := append(bytes.Clone(sig[:6]), secret...)
			switch pub := pub.(type) {
			case ed25519.PublicKey:
				if !ed25519.Verify(pub, signed, sig[6:]) {
					t.Error("crypto/ed25519 rejects the signature")
				}
			case *ecdsa.PublicKey:
				h := sha256.Sum256(signed)
				if !ecdsa.VerifyASN1(pub, h[:], sig[6:]) {
					t.Error("crypto/ecdsa rejects the signature")
				}
			default:
				t.Fatalf("public key %T", pub)
			}

			derKey, err := x509.ParsePKIXPublicKey(ok(t, nil, "keyset", "export-public", ks, "--format", "der").out)
			if err != nil {
				t.Fatalf("--format der: %v", err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(derKey) {
				t.Error("--format der is not the PEM key")
			}

			var jwk map[string]string
			r := ok(t, nil, "keyset", "export-public", ks, "--format", "jwk")
			if err := json.Unmarshal(r.out, &jwk); err != nil {
				t.Fatal(err)
			}
			if jwk["kid"] != strconv.FormatUint(uint64(info(t, ks).Primary), 10) {
				t.Errorf("jwk kid %q", jwk["kid"])
			}
			x, _ := base64.RawURLEncoding.DecodeString(jwk["x"])
			switch pub := pub.(type) {
			case ed25519.PublicKey:
				if jwk["kty"] != "OKP" || !bytes.Equal(x, pub) {
					t.Errorf("jwk %v does not match the PEM key", jwk)
				}
			case *ecdsa.PublicKey:
				raw, _ := pub.Bytes()
				y, _ := base64.RawURLEncoding.DecodeString(jwk["y"])
				if jwk["kty"] != "EC" || !bytes.Equal(x, raw[1:33]) || !bytes.Equal(y, raw[33:]) {
					t.Errorf("jwk %v does not match the PEM key", jwk)
				}
			}
		})
	}
}

func TestExportImportWrapped(t *testing.T) {
	transfer := newEnv(t)
	transfer.create("hmac-sha256", "touch") // creates transfer's master key
	e := newEnv(t)
	ks := e.create("aes256-gcm", "app.keyset", "--exportable")
	ct := ok(t, secret, "encrypt", "--keyset", ks).out
	toKEK := strings.TrimPrefix(transfer.kek(), "--kek=")
	ok(t, nil, "keyset", "export-wrapped", ks, "--to-kek", toKEK, "-o", e.path("wrapped"))
	if fi, err := os.Stat(e.path("wrapped")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("wrapped export mode %v, %v", fi.Mode(), err)
	}
	fails(t, exitUsage, nil, "keyset", "export-wrapped", ks, "--to-kek", "nope", "-o", e.path("w2"))

	// Another machine: its own default KEK, the transfer KEK to unwrap.
	dest := newEnv(t)
	imported := dest.path("imported.keyset")
	ok(t, nil, "keyset", "import-wrapped", e.path("wrapped"), "--from-kek", toKEK, "--out", imported)
	if pt := ok(t, ct, "decrypt", "--keyset", imported).out; !bytes.Equal(pt, secret) {
		t.Error("the imported keyset does not decrypt")
	}
	// The wrong unwrapping KEK.
	fails(t, exitKEK, nil, "keyset", "import-wrapped", e.path("wrapped"), "--from-kek",
		"file:"+filepath.Join(dest.home, "master.key"), "--out", dest.path("again"))
}

func TestInputLimitDocumented(t *testing.T) {
	e := newEnv(t)
	ks := e.create("ed25519", "k")
	// A sparse file one byte over the real limit is refused by its size,
	// without being read (sign reads its input whole; AEAD encrypt
	// streams, TestStreamAnySize).
	p := e.path("huge")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(maxInput + 1)
	f.Close()
	r := fails(t, exitPolicy, nil, "sign", "--keyset", ks, "-i", p, "-o", e.path("out"))
	if !strings.Contains(r.stderr, "64 MiB") {
		t.Errorf("limit message %q does not name the limit", r.stderr)
	}
	if !strings.Contains(rootLong, "64 MiB") || maxInput != 64<<20 {
		t.Error("the help text and maxInput disagree")
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, label: "reading input", total: 8 << 20}
	p.done = 2 << 20
	p.draw()
	if got := buf.String(); !strings.Contains(got, "2.0 MiB / 8.0 MiB") || !strings.Contains(got, " 25%") {
		t.Errorf("bar = %q", got)
	}
	p.finish()
	if !strings.HasSuffix(buf.String(), "\r\x1b[K") {
		t.Error("finish does not erase the bar")
	}
	var nilBar *progress // not a terminal: nothing is drawn
	nilBar.Write([]byte("x"))
	nilBar.finish()

	a := newApp(nil, &buf, &buf)
	if a.newProgress("x", progressMin) != nil {
		t.Error("a progress bar on a non-terminal")
	}
	a.forceTTY = func(any) bool { return true }
	if a.newProgress("x", progressMin-1) != nil || a.newProgress("x", progressMin) == nil || a.newProgress("x", -1) == nil {
		t.Error("progress bar thresholds")
	}
}

// TestProgressOnTerminal: with stderr a terminal, a large input still
// gives a clean result, and any bar drawn is erased.
func TestProgressOnTerminal(t *testing.T) {
	e := newEnv(t)
	ks := e.create("aes256-gcm", "k")
	data := bytes.Repeat([]byte{7}, progressMin+1)
	in := e.write("in", data)
	var stdout, stderr bytes.Buffer
	a := newApp(nil, &stdout, &stderr)
	a.forceTTY = func(v any) bool { return v == a.stderr }
	if code := a.run([]string{"encrypt", "--keyset", ks, "-i", in, "-o", e.path("ct")}); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if s := stderr.String(); s != "" && !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("stderr after the run: %q", s)
	}
	if pt := ok(t, nil, "decrypt", "--keyset", ks, "-i", e.path("ct")).out; !bytes.Equal(pt, data) {
		t.Error("round trip failed")
	}
}

func TestVersionAndSelftest(t *testing.T) {
	newEnv(t)
	r := ok(t, nil, "version", "--json")
	var v struct {
		Version    string `json:"version"`
		ABIVersion int    `json:"abi_version"`
		Build      struct {
			Version        string `json:"version"`
			SourceRevision string `json:"source_revision"`
		} `json:"build"`
		Runtime struct {
			Go      string `json:"go"`
			Backend string `json:"backend"`
		} `json:"runtime"`
	}
	if err := json.Unmarshal(r.out, &v); err != nil {
		t.Fatalf("%v: %s", err, r.out)
	}
	if v.Version == "" || v.ABIVersion != keyhold.ABIVersion || v.Build.Version != v.Version ||
		v.Build.SourceRevision == "" || v.Runtime.Go == "" || v.Runtime.Backend != "native" {
		t.Errorf("version --json = %s", r.out)
	}
	if r := ok(t, nil, "version"); !strings.Contains(r.stdout, v.Version) {
		t.Errorf("version = %q", r.stdout)
	}
	r = ok(t, nil, "selftest")
	if !strings.Contains(r.stdout, "self-test passed") || strings.Contains(r.stdout, "FAILED") {
		t.Errorf("selftest = %s", r.stdout)
	}
	r = ok(t, nil, "selftest", "--json")
	var s struct {
		Passed     bool              `json:"self_test_passed"`
		RoundTrips map[string]string `json:"round_trips"`
	}
	if err := json.Unmarshal(r.out, &s); err != nil || !s.Passed || len(s.RoundTrips) != len(keysetTypes) {
		t.Errorf("selftest --json = %s (%v)", r.out, err)
	}
	// selftest and version touch no KEK (KEYHOLD_HOME itself now exists:
	// the engine's audit log records the self-test and the round trips).
	if _, err := os.Stat(filepath.Join(os.Getenv("KEYHOLD_HOME"), "master.key")); !os.IsNotExist(err) {
		t.Error("version or selftest created a master key")
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("KEYHOLD_HOME"), "audit.log")); err != nil {
		t.Errorf("version and selftest left no audit log: %v", err)
	}
}

// TestHelp: every command has help with an example, and the root help
// documents the exit codes.
func TestHelp(t *testing.T) {
	a := newApp(nil, nil, nil)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Example == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		if r := ok(t, nil, args...); !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%s --help shows no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.rootCommand())
	r := ok(t, nil, "--help")
	for code := 0; code <= 7; code++ {
		if !strings.Contains(r.stdout, fmt.Sprintf("\n  %d  ", code)) {
			t.Errorf("keyhold --help does not document exit code %d", code)
		}
	}
}
