package keyhold

import (
	"bytes"
	"io"
	"testing"
)

// Streaming throughput through the Go API, at the default segment size: the
// figures docs/performance.md sets against the raw C segment throughput of
// bench/stream_bench.cc (BM_Stream_Seal / BM_Stream_Open at 65536).
//
// Two stream sizes: 4 MiB, whose source stays in the CPU cache as the C
// benchmark's buffers do (the Go layer's own cost), and 64 MiB, read from
// memory (what a large in-memory source costs: the copy io.Reader implies
// runs at memory bandwidth).

var streamBenchSizes = []struct {
	name string
	n    int
}{{"4MiB", 4 << 20}, {"64MiB", 64 << 20}}

var streamBenchAlgs = []struct {
	name string
	alg  Algorithm
}{{"aes256gcm", AES256GCM}, {"chacha20poly1305", ChaCha20Poly1305}}

// onlyReader hides a reader's WriteTo, so io.Copy goes through Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// onlyWriter hides a writer's ReadFrom, so io.Copy goes through Write.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

func BenchmarkStreamWriter(b *testing.B) {
	for _, c := range streamBenchAlgs {
		a := must(newKeyset(b, c.alg).AEAD())
		for _, sz := range streamBenchSizes {
			pt := randBytes(b, sz.n) // real pages, not the shared zero page
			for _, mode := range []string{"ReadFrom", "Write32KiB"} {
				b.Run(c.name+"/"+sz.name+"/"+mode, func(b *testing.B) {
					b.SetBytes(int64(sz.n))
					for range b.N {
						w := must(a.NewEncryptingWriter(io.Discard, nil))
						if mode == "ReadFrom" {
							must(io.Copy(w, bytes.NewReader(pt)))
						} else {
							must(io.CopyBuffer(onlyWriter{w}, onlyReader{bytes.NewReader(pt)}, make([]byte, 32<<10)))
						}
						if err := w.Close(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkStreamReader(b *testing.B) {
	for _, c := range streamBenchAlgs {
		a := must(newKeyset(b, c.alg).AEAD())
		for _, sz := range streamBenchSizes {
			var ct bytes.Buffer
			w := must(a.NewEncryptingWriter(&ct, nil))
			must(w.Write(randBytes(b, sz.n)))
			must(0, w.Close())
			for _, mode := range []string{"WriteTo", "Read32KiB"} {
				b.Run(c.name+"/"+sz.name+"/"+mode, func(b *testing.B) {
					b.SetBytes(int64(sz.n))
					buf := make([]byte, 32<<10)
					for range b.N {
						r := must(a.NewDecryptingReader(bytes.NewReader(ct.Bytes()), nil))
						var err error
						if mode == "WriteTo" {
							_, err = io.Copy(io.Discard, r)
						} else {
							_, err = io.CopyBuffer(onlyWriter{io.Discard}, onlyReader{r}, buf)
						}
						if err != nil {
							b.Fatal(err)
						}
						r.Close()
					}
				})
			}
		}
	}
}
