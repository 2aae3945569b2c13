//go:build cgo

package keyhold

import (
	"crypto"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// In-process vs daemon, side by side in one run (issue 5's table; `make
// bench` runs them through scripts/bench-daemon). They need
// KEYHOLD_BENCH_DAEMON (a keyholdd binary) and KEYHOLD_BENCH_CLI (the CLI,
// to create the daemon's stored keysets); without them they skip.
//
// Each benchmark reports ops/s (items/s for batches) and the p50 and p99
// latency of one call as seen by the caller, measured per call.

var benchDaemon = sync.OnceValues(func() (*testDaemon, error) {
	bin, cli := os.Getenv("KEYHOLD_BENCH_DAEMON"), os.Getenv("KEYHOLD_BENCH_CLI")
	if bin == "" || cli == "" {
		return nil, nil
	}
	d, err := newTestDaemon(bin, cli)
	if err != nil {
		return nil, err
	}
	// KEYHOLD_BENCH_DAEMON_ARGS: extra keyholdd flags (e.g. "--workers 1").
	d.Args = strings.Fields(os.Getenv("KEYHOLD_BENCH_DAEMON_ARGS"))
	if err := d.Start(); err != nil {
		return nil, err
	}
	atSuiteEnd(d.Cleanup)
	return d, nil
})

// benchEngines returns the in-process suite engine and an engine on the
// bench daemon.
func benchEngines(b *testing.B) map[string]*Engine {
	d, err := benchDaemon()
	if err != nil {
		b.Fatal(err)
	}
	if d == nil {
		b.Skip("set KEYHOLD_BENCH_DAEMON and KEYHOLD_BENCH_CLI (make bench does)")
	}
	remote := openEngineAt(b, d)
	return map[string]*Engine{"inprocess": suite, "daemon": remote}
}

// latencies collects per-call durations from many goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, items int, elapsed time.Duration, unit string) {
	slices.Sort(l.all)
	q := func(p float64) float64 {
		if len(l.all) == 0 {
			return 0
		}
		return float64(l.all[int(p*float64(len(l.all)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(float64(items)/elapsed.Seconds(), unit)
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// runCallers runs b.N calls of op spread over callers goroutines, timing
// each call.
func runCallers(b *testing.B, callers, itemsPerCall int, unit string, op func(buf []byte) error) {
	var lat latencies
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64<<10)
			local := make([]time.Duration, 0, b.N/callers+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(buf); err != nil {
					failed.Store(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			lat.add(local)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	lat.report(b, b.N*itemsPerCall, elapsed, unit)
}

func BenchmarkDaemonAEAD(b *testing.B) {
	engines := benchEngines(b)
	for _, mode := range []string{"inprocess", "daemon"} {
		e := engines[mode]
		ks := must(e.NewKeyset(AES256GCM))
		a := must(ks.AEAD())
		for _, size := range []int{64, 16 << 10} {
			pt := make([]byte, size)
			for _, callers := range []int{1, 16} {
				b.Run(fmt.Sprintf("mode=%s/size=%s/callers=%d", mode, sizeName(size), callers), func(b *testing.B) {
					runCallers(b, callers, 1, "ops/s", func(buf []byte) error {
						_, err := a.Seal(buf[:0], pt, nil)
						return err
					})
				})
			}
		}
		ks.Close()
	}
}

func BenchmarkDaemonEd25519Sign(b *testing.B) {
	engines := benchEngines(b)
	msg := make([]byte, 64)
	for _, mode := range []string{"inprocess", "daemon"} {
		ks := must(engines[mode].NewKeyset(Ed25519))
		s := must(ks.Signer())
		for _, callers := range []int{1, 16} {
			b.Run(fmt.Sprintf("mode=%s/callers=%d", mode, callers), func(b *testing.B) {
				runCallers(b, callers, 1, "ops/s", func([]byte) error {
					_, err := s.Sign(nil, msg, crypto.Hash(0))
					return err
				})
			})
		}
		ks.Close()
	}
}

func BenchmarkDaemonBatch(b *testing.B) {
	engines := benchEngines(b)
	const batch = 256
	for _, mode := range []string{"inprocess", "daemon"} {
		e := engines[mode]
		ks := must(e.NewKeyset(AES256GCM))
		pt := make([]byte, 64)
		for _, callers := range []int{1, 16} {
			b.Run(fmt.Sprintf("mode=%s/size=64B/batch=%d/callers=%d", mode, batch, callers), func(b *testing.B) {
				pool := sync.Pool{New: func() any {
					items := make([]BatchItem, batch)
					for i := range items {
						items[i] = BatchItem{Keyset: ks, Op: OpAEADEncrypt, In: pt, Dst: make([]byte, 0, 128)}
					}
					return &items
				}}
				runCallers(b, callers, batch, "items/s", func([]byte) error {
					items := pool.Get().(*[]BatchItem)
					defer pool.Put(items)
					for i := range *items {
						(*items)[i].Dst = (*items)[i].Out[:0]
					}
					if failed, err := e.Batch(*items); err != nil || failed != 0 {
						return fmt.Errorf("batch: %d failed, %v", failed, err)
					}
					return nil
				})
			})
		}
		ks.Close()
	}
}

// BenchmarkDaemonHalfLoad: 64-byte AES-256-GCM seals through the daemon
// from 16 callers, paced (open loop) at half of the peak rate measured
// just before; reports the latency the callers see at that load.
func BenchmarkDaemonHalfLoad(b *testing.B) {
	engines := benchEngines(b)
	e := engines["daemon"]
	ks := must(e.NewKeyset(AES256GCM))
	defer ks.Close()
	a := must(ks.AEAD())
	pt := make([]byte, 64)
	const callers = 16
	// Peak: a closed loop for 1 s.
	var done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 128)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Seal(buf, pt, nil); err == nil {
					done.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	peak := float64(done.Load())
	rate := peak / 2
	interval := time.Duration(float64(time.Second) * callers / rate) // per caller
	b.Run("callers=16", func(b *testing.B) {
		var lat, lateness latencies
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				buf := make([]byte, 0, 128)
				local := make([]time.Duration, 0, b.N/callers+1)
				sched := make([]time.Duration, 0, b.N/callers+1)
				due := start.Add(time.Duration(g) * interval / callers)
				for next.Add(1) <= int64(b.N) {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					t0 := time.Now()
					if _, err := a.Seal(buf, pt, nil); err != nil {
						b.Error(err)
						return
					}
					end := time.Now()
					local = append(local, end.Sub(t0))
					// From the scheduled time, a late start counts too
					// (no coordinated omission); the difference is the
					// caller's own scheduling delay.
					from := due
					if t0.Before(from) {
						from = t0
					}
					sched = append(sched, end.Sub(from))
					due = due.Add(interval)
				}
				lat.add(local)
				lateness.add(sched)
			}(g)
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		lat.report(b, b.N, elapsed, "ops/s")
		b.ReportMetric(peak, "peak-ops/s")
		slices.Sort(lateness.all)
		if n := len(lateness.all); n > 0 {
			b.ReportMetric(float64(lateness.all[(n-1)*99/100].Nanoseconds())/1e3, "p99-from-schedule-µs")
		}
	})
}
