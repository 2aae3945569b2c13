package keyhold

import "testing"

// TestDaemonSealAllocs: the daemon client's hot path allocates nothing
// either (pooled calls, double-buffered writes, responses read into the
// call's own buffer).
func TestDaemonSealAllocs(t *testing.T) {
	requireDaemon(t)
	ks := newKeyset(t, AES256GCM)
	a := must(ks.AEAD())
	buf := make([]byte, 0, 256)
	pt := make([]byte, 64)
	var err error
	if n := testing.AllocsPerRun(2000, func() { _, err = a.Seal(buf[:0], pt, nil) }); n > 0 {
		t.Errorf("Seal through the daemon: %v allocations per call, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
	items := make([]BatchItem, 16)
	for i := range items {
		items[i] = BatchItem{Keyset: ks, Op: OpAEADEncrypt, In: pt, Dst: make([]byte, 0, 128)}
	}
	if n := testing.AllocsPerRun(500, func() {
		for i := range items {
			items[i].Dst = items[i].Out[:0]
		}
		_, err = suite.Batch(items)
	}); n > 0 {
		t.Errorf("Batch through the daemon: %v allocations per call, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
}
