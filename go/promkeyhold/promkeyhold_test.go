package promkeyhold_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"keyhold.dev/keyhold"
	"keyhold.dev/keyhold/promkeyhold"
)

func TestMain(m *testing.M) {
	os.Setenv(keyhold.EnvHome, os.TempDir()+"/keyhold-promkeyhold-test")
	code := m.Run()
	os.RemoveAll(os.TempDir() + "/keyhold-promkeyhold-test")
	os.Exit(code)
}

func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func counter(mf *dto.MetricFamily, labels map[string]string) float64 {
	for _, m := range mf.GetMetric() {
		ok := true
		for _, lp := range m.GetLabel() {
			if v, want := labels[lp.GetName()]; want && v != lp.GetValue() {
				ok = false
			}
		}
		if ok {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestCollectorFollowsTheEngineAndMatchesItsOwnExposition(t *testing.T) {
	e, err := keyhold.Open(keyhold.WithInProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := promkeyhold.ForEngine(e)
	before := gather(t, c)
	ks, err := e.NewKeyset(keyhold.AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	a, _ := ks.AEAD()
	for range 3 {
		if _, err := a.Encrypt([]byte("hello"), nil); err != nil {
			t.Fatal(err)
		}
	}
	after := gather(t, c)
	ok := map[string]string{"op": "aead_encrypt", "outcome": "KH_OK"}
	prev := 0.0
	if mf := before["keyhold_operations_total"]; mf != nil {
		prev = max(counter(mf, ok), 0)
	}
	if got := counter(after["keyhold_operations_total"], ok); got-prev < 3 {
		t.Errorf("aead_encrypt went from %v to %v", prev, got)
	}
	if got := counter(after["keyhold_live_handles"], nil); got != 1 {
		t.Errorf("live handles %v", got)
	}
	if got := counter(after["keyhold_key_usage_headroom"], nil); got != float64(uint64(1)<<32-3) {
		t.Errorf("headroom %v", got)
	}

	// The families are the ones the engine renders itself (what the
	// daemon serves).
	text, err := e.MetricsPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		if f, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			name := strings.Fields(f)[0]
			if _, ok := after[name]; !ok && name != "keyhold_operation_duration_seconds" {
				t.Errorf("the engine renders %s, the collector does not", name)
			}
		}
	}
	for name := range after {
		if !bytes.Contains(text, []byte("# TYPE "+name+" ")) {
			t.Errorf("the collector has %s, the engine's rendering does not", name)
		}
	}
}

func TestBadSnapshotsAreScrapeErrors(t *testing.T) {
	for _, snap := range []string{"", "{", `{"version":9}`,
		`{"version":1,"latency":{"bucket_upper_ns":[128],"ops":[{"op":"x","buckets":[1]}]}}`} {
		if _, err := promkeyhold.Metrics([]byte(snap)); err == nil {
			t.Errorf("Metrics(%q) succeeded", snap)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(promkeyhold.NewCollector(func() ([]byte, error) { return nil, errors.New("daemon gone") }))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "daemon gone") {
		t.Errorf("Gather = %v, want the source's error", err)
	}
}

func TestLatencyHistogramsAreCumulative(t *testing.T) {
	snap := `{"version":1,"latency":{"sample":1,"bucket_upper_ns":[128,256,512],
	  "ops":[{"op":"mac_verify","count":6,"sum_ns":3000,"buckets":[1,2,0,3]}]}}`
	ms, err := promkeyhold.Metrics([]byte(snap))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		h := d.GetHistogram()
		if h == nil {
			continue
		}
		if h.GetSampleCount() != 6 || h.GetSampleSum() != 3e-6 {
			t.Errorf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
		}
		want := []uint64{1, 3, 3}
		for i, b := range h.GetBucket() {
			if b.GetCumulativeCount() != want[i] {
				t.Errorf("bucket %v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[i])
			}
		}
		return
	}
	t.Error("no histogram")
}
