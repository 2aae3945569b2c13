package keyhold

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The daemon-mode harness. With KEYHOLD_TEST_DAEMON set to a keyholdd
// binary (and KEYHOLD_TEST_CLI to the keyhold CLI, which creates the
// stored keysets), TestMain starts a real daemon on a real socket and the
// whole suite runs against it through the pure-Go client: the conformance
// suite of both deployment modes (`make test-go` runs it both ways, the
// daemon way built with CGO_ENABLED=0).

const (
	envTestDaemon = "KEYHOLD_TEST_DAEMON"
	envTestCLI    = "KEYHOLD_TEST_CLI"
)

// remoteMode reports whether the suite runs against a daemon.
func remoteMode() bool { return suite != nil && suite.Backend() == "remote" }

// openTestEngine opens another engine in the suite's mode.
func openTestEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	if remoteMode() {
		opts = append([]Option{WithEndpoint(testDaemonInstance.Endpoint())}, opts...)
	} else {
		opts = append([]Option{WithInProcess()}, opts...)
	}
	e, err := Open(opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return e
}

// testDaemon is one keyholdd process with its own directory: a KEK, two
// stored keysets (AES-256-GCM "app", Ed25519 "sig"), a configuration and
// the socket.
type testDaemon struct {
	Bin, CLI string
	Dir      string
	Socket   string
	Config   string
	Keysets  map[string]string // name -> file
	Args     []string          // extra flags
	Env      []string          // extra environment of the daemon (KEYHOLD_POLICY_..., KEYHOLD_AUDIT_...)
	cmd      *exec.Cmd
	log      *os.File
	done     chan struct{}
	waitErr  error
}

var testDaemonInstance *testDaemon

func (d *testDaemon) Endpoint() string { return "unix://" + d.Socket }

// newTestDaemon prepares (does not start) a daemon in a fresh directory.
func newTestDaemon(bin, cli string) (*testDaemon, error) {
	dir, err := os.MkdirTemp("", "keyholdd-test-")
	if err != nil {
		return nil, err
	}
	d := &testDaemon{Bin: bin, CLI: cli, Dir: dir, Socket: filepath.Join(dir, "keyholdd.sock"),
		Config: filepath.Join(dir, "keyholdd.toml"), Keysets: map[string]string{}}
	for name, typ := range map[string]string{"app": "aes256-gcm", "sig": "ed25519"} {
		file := filepath.Join(dir, name+".keyset")
		if err := d.cli("keyset", "create", "--type", typ, "--out", file); err != nil {
			return nil, err
		}
		d.Keysets[name] = file
	}
	if err := d.WriteConfig(fmt.Sprintf("[[daemon.allow]]\nuid = %d\nkeysets = [\"*\"]\nops = [\"*\"]\n", os.Getuid())); err != nil {
		return nil, err
	}
	return d, nil
}

// env is the environment of the daemon and of the in-process CLI runs
// that manage its files: its own KEYHOLD_HOME, no endpoint.
func (d *testDaemon) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvEndpoint+"=") {
			env = append(env, kv)
		}
	}
	return append(env, "KEYHOLD_HOME="+filepath.Join(d.Dir, "home"))
}

func (d *testDaemon) cli(args ...string) error {
	cmd := exec.Command(d.CLI, args...)
	cmd.Env = d.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", d.CLI, strings.Join(args, " "), err, out)
	}
	return nil
}

// WriteConfig replaces the [daemon] table's body (the ACL rules).
func (d *testDaemon) WriteConfig(body string) error {
	return os.WriteFile(d.Config, []byte("[daemon]\n"+body), 0o644)
}

// Start runs the daemon and waits until it answers.
func (d *testDaemon) Start() error {
	args := []string{"--socket", d.Socket, "--config", d.Config}
	for _, name := range []string{"app", "sig"} {
		args = append(args, "--keyset", d.Keysets[name])
	}
	if os.Geteuid() == 0 {
		// keyholdd refuses to serve as root: run it as nobody, and let
		// nobody read what a reload reads.
		args = append(args, "--user", "nobody")
		_ = filepath.Walk(d.Dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
		_ = os.Chmod(d.Dir, 0o755)
	}
	args = append(args, d.Args...)
	log, err := os.OpenFile(filepath.Join(d.Dir, "keyholdd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	d.log = log
	d.done = make(chan struct{})
	d.cmd = exec.Command(d.Bin, args...)
	d.cmd.Env = append(d.env(), d.Env...)
	d.cmd.Stderr = log
	d.cmd.Stdout = log
	if err := d.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("keyholdd exited during start-up: %v\n%s", err, d.Log())
		default:
		}
		if c, err := net.Dial("unix", d.Socket); err == nil {
			c.Close()
			go func() { d.waitErr = <-exited; close(d.done) }()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("keyholdd did not start in 15 s\n%s", d.Log())
}

// Log returns what the daemon logged so far.
func (d *testDaemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "keyholdd.log"))
	return string(b)
}

// Signal sends sig to the daemon.
func (d *testDaemon) Signal(sig syscall.Signal) error { return d.cmd.Process.Signal(sig) }

// Wait waits for the daemon to exit and returns its exit error.
func (d *testDaemon) Wait(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.waitErr
	case <-time.After(timeout):
		return errors.New("keyholdd did not exit")
	}
}

// Stop ends the daemon with SIGTERM and waits.
func (d *testDaemon) Stop() error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	_ = d.Signal(syscall.SIGTERM)
	err := d.Wait(20 * time.Second)
	d.log.Close()
	return err
}

// Cleanup stops the daemon and removes its directory.
func (d *testDaemon) Cleanup() {
	_ = d.Stop()
	os.RemoveAll(d.Dir)
}

// startSuiteDaemon is TestMain's daemon mode; it sets KEYHOLD_ENDPOINT so
// that the examples' plain keyhold.Open() reach the daemon too.
func startSuiteDaemon() (*Engine, error) {
	bin, cli := os.Getenv(envTestDaemon), os.Getenv(envTestCLI)
	if cli == "" {
		return nil, fmt.Errorf("%s needs %s (the keyhold CLI, to create stored keysets)", envTestDaemon, envTestCLI)
	}
	d, err := newTestDaemon(bin, cli)
	if err != nil {
		return nil, err
	}
	if err := d.Start(); err != nil {
		return nil, err
	}
	testDaemonInstance = d
	os.Setenv(EnvEndpoint, d.Endpoint())
	return Open(WithEndpoint(d.Endpoint()))
}

// requireDaemon returns the suite's daemon, skipping outside daemon mode.
func requireDaemon(t testing.TB) *testDaemon {
	t.Helper()
	if testDaemonInstance == nil {
		t.Skip("daemon mode only: set " + envTestDaemon + " and " + envTestCLI + " (make test-go does)")
	}
	return testDaemonInstance
}

// freshDaemon starts a daemon of its own for a test that stops, kills or
// reconfigures it.
func freshDaemon(t testing.TB, args ...string) *testDaemon {
	t.Helper()
	base := requireDaemon(t)
	d, err := newTestDaemon(base.Bin, base.CLI)
	if err != nil {
		t.Fatal(err)
	}
	d.Args = args
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keyholdd log:\n%s", d.Log())
		}
		d.Cleanup()
	})
	return d
}

// scanLog reports whether the daemon's log has a line containing all of
// the given substrings.
func (d *testDaemon) scanLog(parts ...string) bool {
	f, err := os.Open(filepath.Join(d.Dir, "keyholdd.log"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(sc.Text(), p)
		}
		if ok {
			return true
		}
	}
	return false
}
