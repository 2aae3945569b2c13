package keyhold

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Policy, audit and metrics in daemon mode (issue 7): the daemon's engine
// applies its configured policy to every client, writes the audit trail
// with each request's caller identity, and its metrics reach a client and
// the Prometheus endpoint.

// freshDaemonEnv is freshDaemon with extra environment for the daemon.
func freshDaemonEnv(t *testing.T, env []string, args ...string) *testDaemon {
	t.Helper()
	base := requireDaemon(t)
	d, err := newTestDaemon(base.Bin, base.CLI)
	if err != nil {
		t.Fatal(err)
	}
	d.Args, d.Env = args, env
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

func TestDaemonPolicy(t *testing.T) {
	d := freshDaemonEnv(t, []string{
		"KEYHOLD_POLICY_ENABLED=AES256_GCM,ED25519",
		"KEYHOLD_POLICY_DEPRECATED=HMAC_SHA256",
	})
	e := openEngineAt(t, d)
	if _, err := e.NewKeyset(AES256SIV); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("NewKeyset(AES-SIV) with AES-SIV disabled in the daemon: %v, want ErrPolicyDenied", err)
	}
	if _, err := e.NewKeyset(HMACSHA256); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("NewKeyset(HMAC-SHA256) deprecated in the daemon: %v, want ErrPolicyDenied", err)
	}
	// A deprecated algorithm still verifies: import a key and check a tag.
	key := make([]byte, 32)
	mac, err := e.ImportRawKey(HMACSHA256, key)
	if err != nil {
		t.Fatalf("ImportRawKey(HMAC-SHA256) deprecated: %v (import must stay possible)", err)
	}
	m := must(mac.MAC())
	if _, err := m.Compute([]byte("x")); !errors.Is(err, ErrPolicyDenied) {
		t.Errorf("Compute with a deprecated algorithm: %v, want ErrPolicyDenied", err)
	}
	// Enabled algorithms work as usual, and the configuration says where
	// each value came from.
	stillServes(t, e, loadStored(t, e, d, "app"), "policy refusals")
	cfg, err := e.Config()
	if err != nil {
		t.Fatalf("Config through the daemon: %v", err)
	}
	found := false
	for _, s := range cfg.Settings {
		if s.Env == "KEYHOLD_POLICY_DEPRECATED" {
			found = s.Source == "env"
		}
	}
	if !found {
		t.Errorf("the daemon's configuration does not report KEYHOLD_POLICY_DEPRECATED from env: %+v", cfg)
	}
}

func TestDaemonAuditTrail(t *testing.T) {
	d := freshDaemonEnv(t, []string{"KEYHOLD_AUDIT_INTERVAL_MS=50"})
	// A second, restricted uid's refusal must be audited too: the suite's
	// uid may do everything but sign.
	d.WriteConfig(fmt.Sprintf("[[daemon.allow]]\nuid = %d\nkeysets = [\"*\"]\nops = [\"encrypt\", \"decrypt\", \"info\", \"generate\", \"metrics\"]\n", os.Getuid()))
	d.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	e := openEngineAt(t, d)
	app := loadStored(t, e, d, "app")
	a := must(app.AEAD())
	for i := 0; i < 10; i++ {
		must(a.Encrypt([]byte("audited"), nil))
	}
	sig := loadStored(t, e, d, "sig")
	if _, err := must(sig.Signer()).SignWithHeader([]byte("m")); !errors.Is(err, ErrPolicyDenied) {
		t.Fatalf("sign without the sign right: %v", err)
	}
	e.Close()
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(d.Dir, "home", "audit.log")
	caller := fmt.Sprintf(`"caller":{"pid":%d,"uid":%d,"gid":%d}`, os.Getpid(), os.Getuid(), os.Getgid())
	var use, refusal bool
	f, err := os.Open(log)
	if err != nil {
		t.Fatalf("the daemon's audit log: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `"type":"use"`) && strings.Contains(l, `"op":"aead_encrypt"`) && strings.Contains(l, caller) {
			use = true
		}
		if strings.Contains(l, `"type":"policy"`) && strings.Contains(l, `"reason":"acl_sig_sign"`) && strings.Contains(l, caller) {
			refusal = true
		}
		for _, secret := range []string{"audited"} {
			if strings.Contains(l, secret) {
				t.Errorf("the audit log holds request data: %s", l)
			}
		}
	}
	if !use || !refusal {
		b, _ := os.ReadFile(log)
		t.Errorf("audit log: use record with the caller %v, ACL refusal %v; want both\n%s", use, refusal, b)
	}
	// The whole trail verifies offline.
	cmd := exec.Command(d.CLI, "audit", "verify", log)
	cmd.Env = d.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("keyhold audit verify of the daemon's log: %v\n%s", err, out)
	}
}

func TestDaemonEngineMetrics(t *testing.T) {
	d := freshDaemon(t)
	e := openEngineAt(t, d)
	ks := must(e.NewKeyset(AES256GCM))
	a := must(ks.AEAD())
	for i := 0; i < 5; i++ {
		must(a.Encrypt(make([]byte, 64), nil))
	}
	snap, err := e.MetricsSnapshot()
	if err != nil {
		t.Fatalf("MetricsSnapshot through the daemon: %v", err)
	}
	m, err := ParseMetrics(snap)
	if err != nil {
		t.Fatal(err)
	}
	var encrypts uint64
	for _, o := range m.Operations {
		if o.Op == "aead_encrypt" && o.Outcome == "KH_OK" {
			encrypts += o.Count
		}
	}
	if encrypts < 5 || len(m.Keys) == 0 || !m.SelfTestPassed {
		t.Errorf("daemon engine metrics: %d encrypts, %d keys, self-test %v", encrypts, len(m.Keys), m.SelfTestPassed)
	}
	prom, err := e.MetricsPrometheus()
	if err != nil || !strings.Contains(string(prom), "keyhold_operations_total") {
		t.Errorf("MetricsPrometheus through the daemon: %v\n%.300s", err, prom)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
