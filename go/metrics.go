package keyhold

import (
	"encoding/json"
	"fmt"
	"runtime"

	"keyhold.dev/keyhold/internal/backend"
)

// MetricsSnapshot returns the engine's metrics in the snapshot format of
// docs/spec/metrics.md section 2 (JSON): operation counts by type and
// outcome, bytes in and out, sampled latency histograms, policy refusals,
// live handles, guarded memory, per-key use counts and usage limits. The
// package keyhold.dev/keyhold/promkeyhold turns these bytes into
// Prometheus metrics; a daemon client can fetch the same bytes remotely.
func (e *Engine) MetricsSnapshot() ([]byte, error) {
	return e.metrics("engine.metrics", backend.MetricsJSON)
}

// MetricsPrometheus returns the same snapshot in the Prometheus text
// exposition format (docs/spec/metrics.md section 3), as the engine
// renders it.
func (e *Engine) MetricsPrometheus() ([]byte, error) {
	return e.metrics("engine.metrics", backend.MetricsPrometheus)
}

func (e *Engine) metrics(op string, format uint32) ([]byte, error) {
	if err := e.check(op); err != nil {
		return nil, err
	}
	b, st := e.be.EngineMetrics(e.h, format)
	runtime.KeepAlive(e)
	if err := newError(op, st); err != nil {
		return nil, err
	}
	return b, nil
}

// Metrics is a decoded metrics snapshot (docs/spec/metrics.md section 2).
type Metrics struct {
	Version    int `json:"version"`
	Operations []struct {
		Op      string `json:"op"`
		Outcome string `json:"outcome"` // a status name, such as "KH_OK"
		Count   uint64 `json:"count"`
	} `json:"operations"`
	Bytes []struct {
		Op  string `json:"op"`
		In  uint64 `json:"in"`
		Out uint64 `json:"out"`
	} `json:"bytes"`
	Latency struct {
		Sample        uint32   `json:"sample"`          // 1 in Sample operations per thread is timed
		BucketUpperNs []uint64 `json:"bucket_upper_ns"` // finite bucket bounds; one +Inf bucket follows
		Ops           []struct {
			Op      string   `json:"op"`
			Count   uint64   `json:"count"`
			SumNs   uint64   `json:"sum_ns"`
			Buckets []uint64 `json:"buckets"` // per bucket, not cumulative; len(BucketUpperNs)+1
		} `json:"ops"`
	} `json:"latency"`
	PolicyRefusals map[string]uint64 `json:"policy_refusals"` // by reason code
	LiveHandles    uint64            `json:"live_handles"`
	SecureMemory   struct {
		Used          uint64 `json:"used"`
		Total         uint64 `json:"total"`
		Locked        uint64 `json:"locked"`
		MlockFailures uint64 `json:"mlock_failures"`
	} `json:"secure_memory"`
	SelfTestPassed bool `json:"self_test_passed"`
	Keys           []struct {
		Keyset string `json:"keyset"` // the keyset id, hex
		KeyID  uint32 `json:"key_id"`
		Alg    string `json:"alg"`
		Uses   uint64 `json:"uses"`
		Limit  uint64 `json:"limit"` // 0: no usage limit
	} `json:"keys"`
}

// ParseMetrics decodes snapshot bytes from MetricsSnapshot (or from a
// daemon). It checks the format version.
func ParseMetrics(b []byte) (*Metrics, error) {
	var m Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("keyhold: metrics snapshot: %w", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("keyhold: metrics snapshot: unsupported version %d", m.Version)
	}
	n := len(m.Latency.BucketUpperNs) + 1
	for _, o := range m.Latency.Ops {
		if len(o.Buckets) != n {
			return nil, fmt.Errorf("keyhold: metrics snapshot: %s has %d latency buckets, want %d", o.Op, len(o.Buckets), n)
		}
	}
	return &m, nil
}

// Count returns the count of op with the given outcome ("KH_OK").
func (m *Metrics) Count(op, outcome string) uint64 {
	for _, o := range m.Operations {
		if o.Op == op && o.Outcome == outcome {
			return o.Count
		}
	}
	return 0
}
