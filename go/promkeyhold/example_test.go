package promkeyhold_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"keyhold.dev/keyhold"
	"keyhold.dev/keyhold/promkeyhold"
)

// An engine's metrics in a Prometheus registry (serve it with promhttp).
func ExampleForEngine() {
	e, err := keyhold.Open(keyhold.WithInProcess())
	if err != nil {
		panic(err)
	}
	defer e.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(promkeyhold.ForEngine(e))
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "keyhold_self_test_passed" {
			fmt.Println(mf.GetName(), mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	// Output: keyhold_self_test_passed 1
}

// Snapshot bytes from anywhere -- here a literal, in a daemon client the
// bytes read from the socket -- become Prometheus metrics.
func ExampleMetrics() {
	snapshot := []byte(`{"version":1,"operations":[{"op":"aead_encrypt","outcome":"KH_OK","count":42}]}`)
	ms, err := promkeyhold.Metrics(snapshot)
	if err != nil {
		panic(err)
	}
	var m dto.Metric
	_ = ms[0].Write(&m)
	fmt.Println(m.GetCounter().GetValue(), m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue())
	// Output: 42 op aead_encrypt
}
