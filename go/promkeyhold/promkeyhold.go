// Package promkeyhold exposes a keyhold engine's metrics as a
// prometheus.Collector (github.com/prometheus/client_golang).
//
// It is a package of its own so that programs using keyhold without
// Prometheus do not link client_golang. The metric names and labels are
// those of docs/spec/metrics.md section 3, the same the engine renders
// itself (Engine.MetricsPrometheus) and the daemon serves: the collector
// works from the snapshot bytes (section 2), so a daemon client can feed it
// the bytes it fetched over the socket.
package promkeyhold

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"keyhold.dev/keyhold"
)

// Source returns one metrics snapshot (docs/spec/metrics.md section 2),
// such as (*keyhold.Engine).MetricsSnapshot.
type Source func() ([]byte, error)

var (
	descOps = prometheus.NewDesc("keyhold_operations_total",
		"Operations by type and outcome (kh_status name).", []string{"op", "outcome"}, nil)
	descBytesIn = prometheus.NewDesc("keyhold_bytes_in_total",
		"Bytes passed into operations across the ABI.", []string{"op"}, nil)
	descBytesOut = prometheus.NewDesc("keyhold_bytes_out_total",
		"Bytes returned by operations across the ABI.", []string{"op"}, nil)
	descLatency = prometheus.NewDesc("keyhold_operation_duration_seconds",
		"Latency of sampled operations (1 in sample per thread).", []string{"op"}, nil)
	descRefusals = prometheus.NewDesc("keyhold_policy_refusals_total",
		"Operations refused by policy, by reason.", []string{"reason"}, nil)
	descLive = prometheus.NewDesc("keyhold_live_handles",
		"Objects open in the engine.", nil, nil)
	descSecure = prometheus.NewDesc("keyhold_secure_memory_bytes",
		"Guarded-arena bytes (process-wide) by state.", []string{"state"}, nil)
	descMlock = prometheus.NewDesc("keyhold_mlock_failures",
		"Arenas that could not be locked in RAM.", nil, nil)
	descSelfTest = prometheus.NewDesc("keyhold_self_test_passed",
		"1 if the power-on self-test passed.", nil, nil)
	descKeyUses = prometheus.NewDesc("keyhold_key_uses",
		"Uses counted against each key.", []string{"keyset", "key_id", "alg"}, nil)
	descHeadroom = prometheus.NewDesc("keyhold_key_usage_headroom",
		"Uses left before a key's usage limit (limited keys only).", []string{"keyset", "key_id", "alg"}, nil)

	allDescs = []*prometheus.Desc{descOps, descBytesIn, descBytesOut, descLatency, descRefusals, descLive,
		descSecure, descMlock, descSelfTest, descKeyUses, descHeadroom}
)

// Collector collects a Source's snapshot on every scrape.
type Collector struct {
	src Source
}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// ForEngine returns a collector over e's snapshots.
func ForEngine(e *keyhold.Engine) *Collector { return NewCollector(e.MetricsSnapshot) }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A snapshot that cannot be read
// or decoded is reported to the registry as an invalid metric, so the
// scrape shows the error rather than stale numbers.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	b, err := c.src()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descOps, err)
		return
	}
	ms, err := Metrics(b)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descOps, err)
		return
	}
	for _, m := range ms {
		ch <- m
	}
}

// Metrics turns snapshot bytes (docs/spec/metrics.md section 2) into
// Prometheus metrics named as in section 3.
func Metrics(snapshot []byte) ([]prometheus.Metric, error) {
	s, err := keyhold.ParseMetrics(snapshot)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	add := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) error {
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}
	for _, o := range s.Operations {
		if err := add(descOps, prometheus.CounterValue, float64(o.Count), o.Op, o.Outcome); err != nil {
			return nil, err
		}
	}
	for _, b := range s.Bytes {
		if b.In != 0 {
			if err := add(descBytesIn, prometheus.CounterValue, float64(b.In), b.Op); err != nil {
				return nil, err
			}
		}
		if b.Out != 0 {
			if err := add(descBytesOut, prometheus.CounterValue, float64(b.Out), b.Op); err != nil {
				return nil, err
			}
		}
	}
	for _, o := range s.Latency.Ops {
		buckets := make(map[float64]uint64, len(s.Latency.BucketUpperNs))
		var cum uint64
		for i, upper := range s.Latency.BucketUpperNs {
			cum += o.Buckets[i]
			buckets[float64(upper)/1e9] = cum
		}
		m, err := prometheus.NewConstHistogram(descLatency, o.Count, float64(o.SumNs)/1e9, buckets, o.Op)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for reason, n := range s.PolicyRefusals {
		if err := add(descRefusals, prometheus.CounterValue, float64(n), reason); err != nil {
			return nil, err
		}
	}
	selfTest := 0.0
	if s.SelfTestPassed {
		selfTest = 1
	}
	gauges := []struct {
		d      *prometheus.Desc
		v      uint64
		labels []string
	}{
		{descLive, s.LiveHandles, nil},
		{descSecure, s.SecureMemory.Used, []string{"used"}},
		{descSecure, s.SecureMemory.Total, []string{"total"}},
		{descSecure, s.SecureMemory.Locked, []string{"locked"}},
		{descMlock, s.SecureMemory.MlockFailures, nil},
	}
	for _, g := range gauges {
		if err := add(g.d, prometheus.GaugeValue, float64(g.v), g.labels...); err != nil {
			return nil, err
		}
	}
	if err := add(descSelfTest, prometheus.GaugeValue, selfTest); err != nil {
		return nil, err
	}
	for _, k := range s.Keys {
		id := strconv.FormatUint(uint64(k.KeyID), 10)
		if err := add(descKeyUses, prometheus.GaugeValue, float64(k.Uses), k.Keyset, id, k.Alg); err != nil {
			return nil, err
		}
		if k.Limit == 0 {
			continue
		}
		headroom := uint64(0)
		if k.Limit > k.Uses {
			headroom = k.Limit - k.Uses
		}
		if err := add(descHeadroom, prometheus.GaugeValue, float64(headroom), k.Keyset, id, k.Alg); err != nil {
			return nil, err
		}
	}
	return out, nil
}
