package keyhold

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Daemon-mode tests: bad input, faults, signals and authorisation against
// a real keyholdd on a real socket. They run when the suite runs against
// a daemon (make test-go's second pass).

// rawFrame builds a request frame by hand (docs/spec/protocol.md).
func rawFrame(version byte, op uint16, id uint64, items ...[]byte) []byte {
	body := make([]byte, 24)
	body[0] = version
	body[1] = 1
	binary.BigEndian.PutUint16(body[2:], op)
	binary.BigEndian.PutUint64(body[8:], id)
	binary.BigEndian.PutUint32(body[20:], uint32(len(items)))
	for _, it := range items {
		body = append(body, it...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func rawItem(op uint16, handle uint64, arg, arg2, outCap uint32, in ...[]byte) []byte {
	f := make([]byte, 36)
	binary.BigEndian.PutUint16(f[0:], op)
	binary.BigEndian.PutUint32(f[4:], arg)
	binary.BigEndian.PutUint64(f[8:], handle)
	binary.BigEndian.PutUint32(f[16:], arg2)
	binary.BigEndian.PutUint32(f[20:], outCap)
	for i := 0; i < 3; i++ {
		var b []byte
		if i < len(in) {
			b = in[i]
		}
		binary.BigEndian.PutUint32(f[24+4*i:], uint32(len(b)))
	}
	for _, b := range in {
		f = append(f, b...)
	}
	return f
}

// readResponse reads one response frame: its frame status and item count.
func readResponse(c net.Conn) (status uint32, id uint64, count uint32, err error) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [28]byte
	if _, err = io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 24 || n > 1<<26 {
		return 0, 0, 0, fmt.Errorf("bad response length %d", n)
	}
	if _, err = io.CopyN(io.Discard, c, int64(n-24)); err != nil {
		return
	}
	return binary.BigEndian.Uint32(hdr[20:]), binary.BigEndian.Uint64(hdr[12:]), binary.BigEndian.Uint32(hdr[24:]), nil
}

// expectClosed checks that the daemon closes c (after any answer).
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the daemon kept the connection open", what)
		}
	}
}

func dialRaw(t *testing.T, d *testDaemon) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stillServes checks that a normal client is served.
func stillServes(t *testing.T, e *Engine, ks *Keyset, what string) {
	t.Helper()
	a := must(ks.AEAD())
	ct, err := a.Encrypt([]byte("still served"), nil)
	if err == nil {
		_, err = a.Decrypt(ct, nil)
	}
	if err != nil {
		t.Fatalf("after %s: a well-behaved client fails: %v", what, err)
	}
}

func daemonRSS(t *testing.T, d *testDaemon) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func TestDaemonBadInput(t *testing.T) {
	d := freshDaemon(t, "--read-timeout-ms", "500")
	e := openEngineAt(t, d)
	ks := must(e.NewKeyset(AES256GCM))

	t.Run("garbage", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		expectClosed(t, c, "garbage")
		stillServes(t, e, ks, "garbage")
	})
	t.Run("length claiming 4 GiB", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 1, 0, 32})
		st, _, _, err := readResponse(c)
		if err != nil || Status(st) != StatusTooLarge {
			t.Errorf("answer %v, %v; want %v", Status(st), err, StatusTooLarge)
		}
		expectClosed(t, c, "huge length")
		stillServes(t, e, ks, "huge length")
	})
	t.Run("length below the header", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write([]byte{0, 0, 0, 3, 1, 2, 3})
		st, _, _, _ := readResponse(c)
		if Status(st) != StatusMalformed {
			t.Errorf("answer %v, want %v", Status(st), StatusMalformed)
		}
		expectClosed(t, c, "short length")
	})
	t.Run("unknown op keeps the connection", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write(rawFrame(1, 999, 41, rawItem(999, 0, 0, 0, 0)))
		st, id, _, err := readResponse(c)
		if err != nil || Status(st) != StatusUnsupported || id != 41 {
			t.Errorf("unknown op: status %v id %d err %v", Status(st), id, err)
		}
		// The stream is intact: the next request is served.
		c.Write(rawFrame(1, 32, 42, rawItem(32, 0, 1, 1, 256)))
		if st, id, n, err := readResponse(c); err != nil || st != 0 || id != 42 || n != 1 {
			t.Errorf("hello after an unknown op: status %v id %d items %d err %v", Status(st), id, n, err)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write(rawFrame(9, 32, 7, rawItem(32, 0, 1, 1, 256)))
		if st, _, _, _ := readResponse(c); Status(st) != StatusUnsupported {
			t.Errorf("answer %v, want %v", Status(st), StatusUnsupported)
		}
		expectClosed(t, c, "unknown version")
	})
	t.Run("hello with versions the daemon lacks", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write(rawFrame(1, 32, 8, rawItem(32, 0, 2, 5, 256)))
		if _, _, n, err := readResponse(c); err != nil || n != 1 {
			t.Errorf("hello 2..5: items %d, %v", n, err)
		}
	})
	t.Run("oversized batch", func(t *testing.T) {
		c := dialRaw(t, d)
		f := rawFrame(1, 80, 9, rawItem(1, 0, 0, 0, 0))
		binary.BigEndian.PutUint32(f[24:], MaxBatch+1) // count field
		c.Write(f)
		if st, _, _, _ := readResponse(c); Status(st) != StatusMalformed {
			t.Errorf("answer %v, want %v", Status(st), StatusMalformed)
		}
	})
	t.Run("item longer than its frame", func(t *testing.T) {
		c := dialRaw(t, d)
		it := rawItem(1, 0, 0, 0, 64, []byte("abc"))
		binary.BigEndian.PutUint32(it[24:], 1<<20) // in_len beyond the frame
		c.Write(rawFrame(1, 1, 10, it))
		if st, _, _, _ := readResponse(c); Status(st) != StatusMalformed {
			t.Errorf("answer %v, want %v", Status(st), StatusMalformed)
		}
	})
	t.Run("output capacity beyond the frame limit", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write(rawFrame(1, 16, 11, rawItem(16, 0, 0, 0, 1<<30)))
		if st, _, _, _ := readResponse(c); Status(st) != StatusTooLarge {
			t.Errorf("answer %v, want %v", Status(st), StatusTooLarge)
		}
	})
	t.Run("forged handle", func(t *testing.T) {
		c := dialRaw(t, d)
		c.Write(rawFrame(1, 1, 12, rawItem(1, 0x1234, 0, 0, 64, []byte("x"))))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [44]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatal(err)
		}
		if st := Status(binary.BigEndian.Uint32(b[28:])); st != StatusStaleHandle {
			t.Errorf("item status %v, want %v", st, StatusStaleHandle)
		}
	})
	t.Run("slow sender is timed out", func(t *testing.T) {
		c := dialRaw(t, d)
		f := rawFrame(1, 32, 13, rawItem(32, 0, 1, 1, 256))
		c.Write(f[:10]) // half a frame, then nothing
		start := time.Now()
		expectClosed(t, c, "half a frame")
		if el := time.Since(start); el > 4*time.Second {
			t.Errorf("closed after %v; read timeout is 500 ms", el)
		}
	})
	t.Run("disconnect mid-request", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			c, err := net.Dial("unix", d.Socket)
			if err != nil {
				t.Fatal(err)
			}
			f := rawFrame(1, 1, 14, rawItem(1, 0, 0, 0, 64, make([]byte, 4096)))
			c.Write(f[:len(f)/2])
			c.Close()
		}
		stillServes(t, e, ks, "disconnects")
	})
	t.Run("memory stays bounded", func(t *testing.T) {
		before := daemonRSS(t, d)
		// 48 connections each announce a 16 MiB frame and send 1 MiB of it:
		// at most the buffer budget (64 MiB by default) may be held for
		// them, and the read timeout frees it.
		var conns []net.Conn
		chunk := make([]byte, 1<<20)
		for i := 0; i < 48; i++ {
			c := dialRaw(t, d)
			c.Write(binary.BigEndian.AppendUint32(nil, 16<<20))
			go c.Write(chunk)
			conns = append(conns, c)
		}
		time.Sleep(300 * time.Millisecond)
		peak := daemonRSS(t, d)
		stillServes(t, e, ks, "a flood of partial frames")
		if grew := peak - before; grew > 96<<20 {
			t.Errorf("RSS grew by %d MiB under partial frames", grew>>20)
		}
		t.Logf("RSS before %d MiB, during the flood %d MiB", before>>20, peak>>20)
		for _, c := range conns {
			expectClosed(t, c, "stalled 16 MiB frame")
		}
	})
	stillServes(t, e, ks, "every bad input")
}

// openEngineAt opens an engine on d, closed when the test ends.
func openEngineAt(t testing.TB, d *testDaemon, opts ...Option) *Engine {
	t.Helper()
	e, err := Open(append([]Option{WithEndpoint(d.Endpoint())}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v\n%s", d.Endpoint(), err, d.Log())
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// loadStored loads one of d's stored keysets through the daemon.
func loadStored(t testing.TB, e *Engine, d *testDaemon, name string) *Keyset {
	t.Helper()
	kek := must(e.OpenKEK("default"))
	defer kek.Close()
	ks, err := e.LoadKeyset(d.Keysets[name], kek)
	if err != nil {
		t.Fatalf("LoadKeyset(%s) through the daemon: %v", name, err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func TestDaemonStoredKeysets(t *testing.T) {
	d := freshDaemon(t)
	e := openEngineAt(t, d)
	app := loadStored(t, e, d, "app")
	sig := loadStored(t, e, d, "sig")
	ct := must(must(app.AEAD()).Encrypt([]byte("stored"), []byte("ad")))
	if pt, err := must(app.AEAD()).Decrypt(ct, []byte("ad")); err != nil || string(pt) != "stored" {
		t.Fatalf("round trip through a stored keyset: %q, %v", pt, err)
	}
	// The CLI, in-process with the KEK, decrypts what the daemon encrypted.
	in := filepath.Join(t.TempDir(), "ct")
	os.WriteFile(in, ct, 0o600)
	cmd := exec.Command(d.CLI, "decrypt", "--keyset", d.Keysets["app"], "--ad", "ad", "-i", in, "-o", "-")
	cmd.Env = d.env()
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "stored" {
		t.Errorf("in-process decrypt of the daemon's ciphertext: %q, %v", out, err)
	}
	s := must(sig.Signer())
	msg := []byte("signed by the daemon")
	signature, err := s.SignWithHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := must(sig.Verifier()).Verify(msg, signature); err != nil {
		t.Errorf("verify: %v", err)
	}
	// Stored keysets change only through their files.
	if _, err := app.Rotate(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Rotate of a stored keyset through the daemon: %v, want ErrUnsupported", err)
	}
	if err := app.Save(filepath.Join(t.TempDir(), "x.keyset"), must(e.OpenKEK("default"))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Save through the daemon: %v, want ErrUnsupported", err)
	}
	// A keyset file the daemon has not loaded.
	other := filepath.Join(d.Dir, "other.keyset")
	if err := d.cli("keyset", "create", "--type", "aes256-gcm", "--out", other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.LoadKeyset(other, must(e.OpenKEK("default"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadKeyset of a keyset the daemon lacks: %v, want ErrNotFound", err)
	}
}

func TestDaemonReloadOnSIGHUP(t *testing.T) {
	d := freshDaemon(t)
	e := openEngineAt(t, d)
	app := loadStored(t, e, d, "app")
	a := must(app.AEAD())
	before := must(app.Info()).PrimaryKeyID
	ct := must(a.Encrypt([]byte("old key"), nil))
	if err := d.cli("keyset", "rotate", d.Keysets["app"]); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Lchown(d.Keysets["app"], 65534, 65534)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for must(app.Info()).PrimaryKeyID == before {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not pick up the rotation after SIGHUP\n%s", d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Same handle, same connection, new primary; the old key still decrypts.
	if pt, err := a.Decrypt(ct, nil); err != nil || string(pt) != "old key" {
		t.Errorf("decrypt under the previous primary after reload: %q, %v", pt, err)
	}
	// A reload that fails (a keyset file now unreadable) keeps the old state.
	os.WriteFile(d.Keysets["sig"], []byte("not a keyset"), 0o600)
	d.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if !d.scanLog("reload failed") {
		t.Errorf("a failed reload was not logged\n%s", d.Log())
	}
	stillServes(t, e, app, "a failed reload")
}

func TestDaemonKill9UnderLoad(t *testing.T) {
	d := freshDaemon(t)
	e := openEngineAt(t, d, WithTimeout(2*time.Second))
	app := loadStored(t, e, d, "app")
	a := must(app.AEAD())
	sealed := must(a.Encrypt([]byte("before the crash"), nil))

	var ok, unavailable, other atomic.Int64
	var otherErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 256)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := a.Seal(buf[:0], []byte("payload under load"), nil)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrUnavailable):
					unavailable.Add(1)
				default:
					other.Add(1)
					otherErr.Store(err)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := d.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.Wait(5 * time.Second)
	time.Sleep(200 * time.Millisecond)
	okAtKill := ok.Load()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	// Clients reconnect by themselves (backoff at most 2 s).
	deadline := time.Now().Add(10 * time.Second)
	for ok.Load() < okAtKill+100 {
		if time.Now().After(deadline) {
			t.Fatalf("clients did not recover after the restart: %d ok, %d unavailable", ok.Load(), unavailable.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d ok, %d unavailable during the outage", ok.Load(), unavailable.Load())
	if other.Load() != 0 {
		t.Errorf("%d errors other than ErrUnavailable, e.g. %v", other.Load(), otherErr.Load())
	}
	if unavailable.Load() == 0 {
		t.Error("no call saw the outage")
	}
	// The keyset survived: the restarted daemon decrypts the old ciphertext,
	// and the file still opens in-process with the KEK.
	if pt, err := a.Decrypt(sealed, nil); err != nil || string(pt) != "before the crash" {
		t.Errorf("decrypt after restart: %q, %v", pt, err)
	}
	if err := d.cli("keyset", "info", d.Keysets["app"]); err != nil {
		t.Errorf("keyset file after kill -9: %v", err)
	}
}

func TestDaemonDrainOnSIGTERM(t *testing.T) {
	d := freshDaemon(t)
	e := openEngineAt(t, d, WithTimeout(5*time.Second))
	ks := loadStored(t, e, d, "app")
	a := must(ks.AEAD())
	var wg sync.WaitGroup
	var bad atomic.Int64
	var badErr atomic.Value
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				_, err := a.Encrypt(make([]byte, 64), nil)
				if err != nil && !errors.Is(err, ErrUnavailable) {
					bad.Add(1)
					badErr.Store(err)
				}
				if errors.Is(err, ErrUnavailable) {
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := d.Stop(); err != nil {
		t.Errorf("keyholdd exit after SIGTERM: %v", err)
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d calls failed with something other than ErrUnavailable during the drain, e.g. %v", bad.Load(), badErr.Load())
	}
	if !d.scanLog("draining") || !d.scanLog("stopped") {
		t.Errorf("drain not logged:\n%s", d.Log())
	}
	if _, err := os.Stat(d.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after exit: %v", err)
	}
}

func TestDaemonContext(t *testing.T) {
	d := freshDaemon(t)
	e := openEngineAt(t, d)
	ks := must(e.NewKeyset(AES256GCM))
	a := must(ks.AEAD())
	// A frozen daemon: the deadline ends the wait.
	d.Signal(syscall.SIGSTOP)
	defer d.Signal(syscall.SIGCONT)
	waitProcState(t, d, 'T')
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.SealContext(ctx, nil, []byte("x"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDeadlineExceeded) {
		t.Errorf("SealContext against a stopped daemon: %v, want a deadline error", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("deadline of 150 ms took %v", el)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	if _, err := e.BatchContext(ctx2, []BatchItem{{Keyset: ks, Op: OpAEADEncrypt, In: []byte("x")}}); !errors.Is(err, context.Canceled) {
		t.Errorf("BatchContext cancelled: %v, want context.Canceled", err)
	}
	d.Signal(syscall.SIGCONT)
	if err := e.Ping(context.Background()); err != nil {
		t.Errorf("Ping after SIGCONT: %v", err)
	}
	stillServes(t, e, ks, "cancelled calls")
	// Already-ended contexts fail before sending.
	if _, err := a.OpenContext(ctx2, nil, []byte("x"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenContext with a cancelled context: %v", err)
	}
}

// waitProcState waits until the daemon's /proc state is st ('T': stopped).
func waitProcState(t *testing.T, d *testDaemon, st byte) {
	t.Helper()
	for i := 0; i < 200; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
		if err == nil {
			if j := strings.LastIndexByte(string(b), ')'); j > 0 && j+2 < len(b) && b[j+2] == st {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("keyholdd never reached state %c", st)
}

func TestDaemonSocketAndMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := freshDaemon(t, "--metrics-listen", addr)
	fi, err := os.Stat(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o660 != 0 {
		t.Errorf("socket mode %o, want 0660 or stricter", perm)
	}
	e := openEngineAt(t, d)
	stillServes(t, e, must(e.NewKeyset(AES256GCM)), "start")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\n\r\n")
	body, _ := io.ReadAll(c)
	for _, want := range []string{"200 OK", `keyholdd_requests_total{op="aead.encrypt",outcome="ok"} 1`,
		"keyholdd_request_duration_seconds_bucket", "keyholdd_connections "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// TestDaemonOtherUID runs a client under another uid (the test binary
// itself, re-executed) and checks that the ACL refuses it, then that a
// SIGHUP'd rule grants exactly what it says.
func TestDaemonOtherUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client under another uid")
	}
	d := freshDaemon(t)
	exe := filepath.Join(d.Dir, "probe.test")
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	// The probe reads the keysets' public metadata: give it copies.
	pub := filepath.Join(d.Dir, "pub")
	os.Mkdir(pub, 0o755)
	for name, f := range d.Keysets {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(pub, name+".keyset"), b, 0o644)
	}
	probe := func(want string) {
		t.Helper()
		cmd := exec.Command(exe, "-test.run=^TestDaemonUIDProbe$")
		cmd.Env = append(os.Environ(), "KEYHOLD_TEST_PROBE="+want, "KEYHOLD_TEST_PROBE_DIR="+pub,
			EnvEndpoint+"="+d.Endpoint(), envTestDaemon+"=")
		// uid 4242 in the socket's group (nogroup), so that the socket's
		// mode lets it connect and the ACL decides.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 4242, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PROBE OK") {
			t.Errorf("probe %s as uid 4242: %v\n%s\n%s", want, err, out, d.Log())
		}
	}
	probe("denied")
	if !d.scanLog("denied", `"uid":4242`) {
		t.Errorf("refusal not logged:\n%s", d.Log())
	}
	d.WriteConfig(fmt.Sprintf("[[daemon.allow]]\nuid = %d\nkeysets = [\"*\"]\nops = [\"*\"]\n\n"+
		"[[daemon.allow]]\nuid = 4242\nkeysets = [\"sig\"]\nops = [\"verify\", \"info\"]\n", os.Getuid()))
	d.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	probe("verify-only")
}

// TestDaemonUIDProbe is the other-uid client of TestDaemonOtherUID; it
// does nothing unless that test started it.
func TestDaemonUIDProbe(t *testing.T) {
	want := os.Getenv("KEYHOLD_TEST_PROBE")
	if want == "" {
		t.Skip("run by TestDaemonOtherUID")
	}
	dir := os.Getenv("KEYHOLD_TEST_PROBE_DIR")
	e, err := Open()
	if want == "denied" {
		if !errors.Is(err, ErrPolicyDenied) {
			t.Fatalf("Open as an unknown uid: %v, want ErrPolicyDenied", err)
		}
		fmt.Println("PROBE OK")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	kek := must(e.OpenKEK("default"))
	if _, err := e.LoadKeyset(filepath.Join(dir, "app.keyset"), kek); !errors.Is(err, ErrPolicyDenied) {
		t.Fatalf("attach app (not granted): %v, want ErrPolicyDenied", err)
	}
	sig, err := e.LoadKeyset(filepath.Join(dir, "sig.keyset"), kek)
	if err != nil {
		t.Fatalf("attach sig (granted verify): %v", err)
	}
	if _, err := must(sig.Signer()).SignWithHeader([]byte("m")); !errors.Is(err, ErrPolicyDenied) {
		t.Fatalf("sign with verify-only rights: %v, want ErrPolicyDenied", err)
	}
	if _, err := e.NewKeyset(AES256GCM); !errors.Is(err, ErrPolicyDenied) {
		t.Fatalf("generate without the generate right: %v, want ErrPolicyDenied", err)
	}
	fmt.Println("PROBE OK")
}

// TestDaemonCLI: the keyhold CLI's data commands follow KEYHOLD_ENDPOINT
// and read no secret: with a KEYHOLD_HOME that has no KEK at all, encrypt
// works through the daemon, and the in-process CLI (with the KEK) decrypts.
func TestDaemonCLI(t *testing.T) {
	d := freshDaemon(t)
	dir := t.TempDir()
	pt := filepath.Join(dir, "pt")
	os.WriteFile(pt, []byte("through the daemon"), 0o600)
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(d.CLI, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	var remoteEnv []string
	for _, kv := range d.env() {
		if !strings.HasPrefix(kv, "KEYHOLD_HOME=") {
			remoteEnv = append(remoteEnv, kv)
		}
	}
	noKEK := filepath.Join(dir, "no-kek-here")
	remoteEnv = append(remoteEnv, "KEYHOLD_HOME="+noKEK, EnvEndpoint+"="+d.Endpoint())
	ct := filepath.Join(dir, "ct")
	if out, code := run(remoteEnv, "encrypt", "--keyset", d.Keysets["app"], "-i", pt, "-o", ct); code != 0 {
		t.Fatalf("encrypt through the daemon: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(noKEK); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the CLI in daemon mode touched KEYHOLD_HOME: %v", err)
	}
	if out, code := run(d.env(), "decrypt", "--keyset", d.Keysets["app"], "-i", ct, "-o", "-"); code != 0 || out != "through the daemon" {
		t.Errorf("in-process decrypt: exit %d, %q", code, out)
	}
	other := filepath.Join(d.Dir, "other.keyset")
	if err := d.cli("keyset", "create", "--type", "aes256-gcm", "--out", other); err != nil {
		t.Fatal(err)
	}
	if out, code := run(remoteEnv, "encrypt", "--keyset", other, "-i", pt, "-o", filepath.Join(dir, "x")); code != 4 || !strings.Contains(out, "has not loaded") {
		t.Errorf("encrypt with a keyset the daemon lacks: exit %d, %q; want 4", code, out)
	}
	d.Stop()
	out, code := run(remoteEnv, "encrypt", "--keyset", d.Keysets["app"], "-i", pt, "-o", filepath.Join(dir, "y"))
	if code != 5 || !strings.Contains(out, "unavailable") {
		t.Errorf("encrypt with the daemon down: exit %d, %q; want 5", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "y")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed encrypt left an output file")
	}
}
