//go:build cgo

package keyhold

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"keyhold.dev/keyhold/internal/backend"
)

// The public types reach the engine only through backend.Backend. These
// tests put a wrapper between them to check the Go side's own logic.

// shortBackend answers the first AEADEncrypt and MACCompute with
// StatusBufferTooSmall and a larger required size, as a future engine with
// bigger outputs might.
type shortBackend struct {
	backend.Backend
	calls atomic.Int32
}

func (s *shortBackend) AEADEncrypt(ks backend.Handle, pt, aad, out []byte) (int, backend.Status) {
	if s.calls.Add(1) == 1 {
		return len(out) + 5, backend.StatusBufferTooSmall
	}
	return s.Backend.AEADEncrypt(ks, pt, aad, out)
}

func TestBufferTooSmallRetry(t *testing.T) {
	native, err := inProcessBackend()
	if err != nil {
		t.Fatal(err)
	}
	sb := &shortBackend{Backend: native}
	e, err := Open(WithInProcess(), func(c *config) { c.backend = sb })
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ks, err := e.NewKeyset(AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	a := must(ks.AEAD())
	dst := make([]byte, 2, 2+5+a.Overhead()) // enough for the output, not for the claimed size
	dst[0], dst[1] = 'h', 'i'
	ct, err := a.Seal(dst, []byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sb.calls.Load() != 2 {
		t.Fatalf("%d engine calls, want 2 (one retry)", sb.calls.Load())
	}
	if !bytes.Equal(ct[:2], []byte("hi")) || len(ct) != 2+5+a.Overhead() {
		t.Fatalf("retry result has %d bytes", len(ct))
	}
	if pt, err := a.Decrypt(ct[2:], nil); err != nil || string(pt) != "hello" {
		t.Fatalf("decrypt: %v", err)
	}
}

// closedBackend reports every engine as closed, as a daemon whose
// connection went away would.
type closedBackend struct{ backend.Backend }

func (closedBackend) AEADDecrypt(backend.Handle, []byte, []byte, []byte) (int, backend.Status) {
	return 0, backend.StatusEngineClosed
}

func TestBackendStatusMapping(t *testing.T) {
	native, err := inProcessBackend()
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(WithInProcess(), func(c *config) { c.backend = closedBackend{native} })
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ks := must(e.NewKeyset(AES256GCM))
	a := must(ks.AEAD())
	ct := must(a.Encrypt([]byte("x"), nil))
	_, err = a.Decrypt(ct, nil)
	if !errors.Is(err, ErrEngineClosed) || !errors.Is(err, ErrClosed) || err.Error() != "keyhold: aead.open: engine closed" {
		t.Fatalf("got %v", err)
	}
}

// nullBackend answers AEADEncrypt without crossing into C, to measure
// what the Go layer itself costs per Seal.
type nullBackend struct{ backend.Backend }

func (nullBackend) AEADEncrypt(_ backend.Handle, pt, _, out []byte) (int, backend.Status) {
	return len(out), backend.StatusOK
}

// BenchmarkGoLayer is AEAD.Seal minus the engine: the Go side's own cost
// per operation (compare with BenchmarkCrossing and the keyhold-seal cases).
func BenchmarkGoLayer(b *testing.B) {
	native, err := inProcessBackend()
	if err != nil {
		b.Fatal(err)
	}
	e, err := Open(WithInProcess(), func(c *config) { c.backend = nullBackend{native} })
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ks := must(e.NewKeyset(AES256GCM))
	defer ks.Close()
	a := must(ks.AEAD())
	pt := make([]byte, 64)
	dst := make([]byte, 0, 64+a.Overhead())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Seal(dst, pt, nil); err != nil {
			b.Fatal(err)
		}
	}
}
