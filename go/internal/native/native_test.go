package native

import (
	"testing"

	"keyhold.dev/keyhold/internal/backend"
)

func TestNewChecksABI(t *testing.T) {
	be, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if got := be.ABIVersion(); got != backend.ABIVersion {
		t.Fatalf("ABIVersion() = %d, want %d", got, backend.ABIVersion)
	}
	if be.Name() != "native" || be.Version() == "" {
		t.Fatalf("name %q, version %q", be.Name(), be.Version())
	}
}

func TestStatusPassThrough(t *testing.T) {
	be := Native{}
	if st := be.HandleClose(0); st != backend.StatusStaleHandle {
		t.Errorf("close of handle 0: %d, want %d", st, backend.StatusStaleHandle)
	}
	if _, st := be.AlgSizes(9999); st != backend.StatusUnsupported {
		t.Errorf("sizes of an unknown algorithm: %d", st)
	}
	if _, st := be.Batch(make([]backend.BatchItem, backend.MaxBatch+1)); st != backend.StatusTooLarge {
		t.Errorf("oversized batch: %d", st)
	}
	if failed, st := be.Batch(nil); failed != 0 || st != backend.StatusOK {
		t.Errorf("empty batch: %d, %d", failed, st)
	}
}

// TestBatchStagedOutputNotWrittenOnFailure: a staged (copied) output is
// copied back only on success, so a failed item leaves the caller's buffer
// untouched, as the ABI promises for direct outputs.
func TestBatchStagedOutputNotWrittenOnFailure(t *testing.T) {
	be := Native{}
	out := []byte("untouched")
	items := []backend.BatchItem{{Keyset: 0, Op: backend.OpAEADEncrypt, In: []byte("x"), Out: out}}
	failed, st := be.Batch(items)
	if st != backend.StatusOK || failed != 1 || items[0].Status != backend.StatusStaleHandle {
		t.Fatalf("batch: %d failed, status %d, item %d", failed, st, items[0].Status)
	}
	if string(out) != "untouched" {
		t.Fatalf("failed item wrote %q", out)
	}
}
