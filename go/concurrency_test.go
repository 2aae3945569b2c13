package keyhold

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentUseAndClose shares one keyset between many goroutines
// while another goroutine closes it (or its engine): no race, no crash,
// and every error is a defined one (ErrClosed, i.e. a stale handle or a
// closed engine).
func TestConcurrentUseAndClose(t *testing.T) {
	for _, closeEngine := range []bool{false, true} {
		name := "close keyset"
		if closeEngine {
			name = "close engine"
		}
		t.Run(name, func(t *testing.T) {
			e := suite
			if closeEngine {
				e = openTestEngine(t)
				defer e.Close()
			}
			ks, err := e.NewKeyset(AES256GCM)
			if err != nil {
				t.Fatal(err)
			}
			defer ks.Close()
			mac, err := e.NewKeyset(HMACSHA256)
			if err != nil {
				t.Fatal(err)
			}
			defer mac.Close()
			a := must(ks.AEAD())
			m := must(mac.MAC())
			ct := must(a.Encrypt([]byte("shared"), nil))

			const workers = 16
			var ok, closedErrs atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					dst := make([]byte, 0, 128)
					items := make([]BatchItem, 4)
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						var err error
						switch (w + i) % 5 {
						case 0:
							dst, err = a.Seal(dst[:0], []byte("payload"), nil)
						case 1:
							var pt []byte
							pt, err = a.Decrypt(ct, nil)
							if err == nil && !bytes.Equal(pt, []byte("shared")) {
								t.Error("wrong plaintext")
							}
						case 2:
							_, err = ks.Info()
						case 3:
							for j := range items {
								items[j] = BatchItem{Keyset: ks, Op: OpAEADEncrypt, In: []byte("b")}
							}
							_, err = e.Batch(items)
							for _, it := range items {
								err = errors.Join(err, it.Err)
							}
						case 4:
							_, err = m.Compute([]byte("m"))
						}
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, ErrClosed):
							closedErrs.Add(1)
						default:
							t.Errorf("undefined error under a concurrent close: %v", err)
							return
						}
					}
				}(w)
			}
			time.Sleep(50 * time.Millisecond)
			if closeEngine {
				if err := e.Close(); err != nil {
					t.Error(err)
				}
			} else {
				if err := ks.Close(); err != nil {
					t.Error(err)
				}
			}
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			if ok.Load() == 0 || closedErrs.Load() == 0 {
				t.Errorf("%d successes, %d closed errors: the close did not happen mid-run", ok.Load(), closedErrs.Load())
			}
			t.Logf("%d operations succeeded, %d saw the close", ok.Load(), closedErrs.Load())
			// Keysets of the engine that stays open keep working.
			if !closeEngine {
				if _, err := m.Compute([]byte("still open")); err != nil {
					t.Errorf("other keyset after close: %v", err)
				}
			}
		})
	}
}

// TestConcurrentKeysetUse hammers one keyset from many goroutines with
// rotations in between; every ciphertext must decrypt.
func TestConcurrentKeysetUse(t *testing.T) {
	ks := newKeyset(t, ChaCha20Poly1305)
	a := must(ks.AEAD())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				pt := []byte{byte(i), byte(i >> 8)}
				ct, err := a.Encrypt(pt, nil)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := a.Decrypt(ct, nil)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("decrypt: %v", err)
					return
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		if _, err := ks.Rotate(); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

// TestCleanupClosesForgottenKeysets checks the safety net: a keyset that is
// never closed is closed once the garbage collector finds it unreachable.
func TestCleanupClosesForgottenKeysets(t *testing.T) {
	e := openTestEngine(t)
	defer e.Close()
	for i := 0; i < 10; i++ {
		if _, err := e.NewKeyset(HMACSHA256); err != nil {
			t.Fatal(err)
		}
	}
	if s := must(e.Stats()); s.LiveHandles != 10 {
		t.Fatalf("live handles = %d, want 10", s.LiveHandles)
	}
	if err := waitNoLiveHandles(e, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
