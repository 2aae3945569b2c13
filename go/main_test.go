package keyhold

import (
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// suite is the engine shared by the tests. TestMain checks that it has no
// live handle left once the suite has run and the garbage collector has
// run the keysets' cleanups.
var suite *Engine

var (
	suiteCleanupMu sync.Mutex
	suiteCleanups  []func()
)

// atSuiteEnd registers f to run after every test, before the leak check
// (for objects cached in package variables, such as the fuzz targets').
func atSuiteEnd(f func()) {
	suiteCleanupMu.Lock()
	suiteCleanups = append(suiteCleanups, f)
	suiteCleanupMu.Unlock()
}

// testPolicy enables every algorithm, including the two a fresh install
// leaves off (AES-SIV, X25519; docs/decisions/0015-configuration-and-policy.md):
// the suite covers them all. policy_test.go checks the defaults.
const testPolicy = "AES256_GCM,CHACHA20_POLY1305,XCHACHA20_POLY1305,AES256_SIV,HMAC_SHA256,HMAC_SHA512,ED25519,ECDSA_P256_SHA256_DER,ECDSA_P256_SHA256_P1363,X25519,HKDF_SHA256,HKDF_SHA512"

func TestMain(m *testing.M) {
	if os.Getenv("KEYHOLD_TEST_PROBE") != "" {
		// A child process of TestDaemonOtherUID: no suite engine.
		os.Exit(m.Run())
	}
	// Every engine of the suite writes its audit log (and any default
	// master key) into a temporary KEYHOLD_HOME, never the developer's.
	home, err := os.MkdirTemp("", "keyhold-go-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyhold tests:", err)
		os.Exit(1)
	}
	os.Setenv(EnvHome, home)
	if os.Getenv("KEYHOLD_POLICY_ENABLED") == "" {
		os.Setenv("KEYHOLD_POLICY_ENABLED", testPolicy)
	}
	var e *Engine
	if os.Getenv(envTestDaemon) != "" {
		e, err = startSuiteDaemon()
	} else {
		e, err = Open(WithInProcess())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyhold tests: cannot open the engine:", err)
		os.Exit(1)
	}
	suite = e
	code := m.Run()
	suiteCleanupMu.Lock()
	for _, f := range suiteCleanups {
		f()
	}
	suiteCleanupMu.Unlock()
	if err := waitNoLiveHandles(e, 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "keyhold tests: leak check:", err)
		if code == 0 {
			code = 1
		}
	} else if testing.Verbose() {
		fmt.Println("keyhold tests: leak check passed: 0 live handles in the suite engine")
	}
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "keyhold tests: engine close:", err)
		code = 1
	}
	if testDaemonInstance != nil {
		if err := testDaemonInstance.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "keyhold tests: keyholdd did not stop cleanly:", err)
			code = 1
		}
		if code != 0 {
			fmt.Fprintln(os.Stderr, "keyholdd log:\n"+testDaemonInstance.Log())
		}
		os.RemoveAll(testDaemonInstance.Dir)
	}
	os.RemoveAll(home)
	os.Exit(code)
}

// waitNoLiveHandles runs the garbage collector until the engine reports
// zero live handles, or fails after timeout.
func waitNoLiveHandles(e *Engine, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		runtime.GC()
		s, err := e.Stats()
		if err != nil {
			return err
		}
		if s.LiveHandles == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d live handles remain after GC", s.LiveHandles)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newKeyset generates a keyset in the suite engine, closed at the end of
// the test.
func newKeyset(t testing.TB, alg Algorithm, opts ...KeysetOption) *Keyset {
	t.Helper()
	ks, err := suite.NewKeyset(alg, opts...)
	if err != nil {
		t.Fatalf("NewKeyset(%v): %v", alg, err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

// importRaw imports a raw key in the suite engine, closed at the end of
// the test.
func importRaw(t testing.TB, alg Algorithm, key []byte) *Keyset {
	t.Helper()
	ks, err := suite.ImportRawKey(alg, key)
	if err != nil {
		t.Fatalf("ImportRawKey(%v, %d bytes): %v", alg, len(key), err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

// must returns v or, on error, panics: a test helper for calls that
// cannot fail in a correct build (the panic's stack names the line).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := suite.Rand().Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// unhex decodes a hex test vector.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
