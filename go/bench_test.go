//go:build cgo

package keyhold

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// The benchmarks put keyhold side by side with what a Go user would pick
// instead, in one run. Every AEAD benchmark counts one message per op
// (b.SetBytes is the message size), so ns/op compares directly:
//
//	keyhold-seal     AEAD.Seal, managed keyset, append into a reused buffer
//	keyhold-open     AEAD.Open of that ciphertext
//	keyhold-batch64  Engine.Batch, 64 messages per crossing
//	keyhold-cipher   the cipher.AEAD adapter over a raw keyset
//	stdlib / xcrypto crypto/cipher AES-GCM, x/crypto ChaCha20-Poly1305 (seal; -open: open)
//
// Build with -tags keyhold_nohints to measure without the #cgo noescape /
// nocallback hints (internal/native/hints.go).

var benchSizes = []int{64, 1 << 10, 16 << 10, 1 << 20}

const benchBatch = 64

func benchAEAD(b *testing.B, alg Algorithm, std func(key []byte) (cipher.AEAD, error), stdName string) {
	for _, size := range benchSizes {
		pt := make([]byte, size)
		b.Run(fmt.Sprintf("size=%s/keyhold-seal", sizeName(size)), func(b *testing.B) {
			a := must(newKeyset(b, alg).AEAD())
			dst := make([]byte, 0, size+a.Overhead())
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Seal(dst, pt, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%s/keyhold-open", sizeName(size)), func(b *testing.B) {
			a := must(newKeyset(b, alg).AEAD())
			ct := must(a.Encrypt(pt, nil))
			dst := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Open(dst, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%s/keyhold-batch64", sizeName(size)), func(b *testing.B) {
			ks := newKeyset(b, alg)
			a := must(ks.AEAD())
			items := make([]BatchItem, benchBatch)
			outs := make([][]byte, benchBatch)
			for i := range outs {
				outs[i] = make([]byte, 0, size+a.Overhead())
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += benchBatch {
				n := min(benchBatch, b.N-done)
				for i := range items[:n] {
					items[i] = BatchItem{Keyset: ks, Op: OpAEADEncrypt, In: pt, Dst: outs[i]}
				}
				if failed, err := suite.Batch(items[:n]); err != nil || failed != 0 {
					b.Fatal(failed, err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%s/keyhold-cipher", sizeName(size)), func(b *testing.B) {
			key := randBytes(b, 32)
			c := must(NewCipherAEAD(importRaw(b, alg, key)))
			nonce := make([]byte, c.NonceSize())
			dst := make([]byte, 0, size+c.Overhead())
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				c.Seal(dst, nonce, pt, nil)
			}
		})
		b.Run(fmt.Sprintf("size=%s/%s", sizeName(size), stdName), func(b *testing.B) {
			c := must(std(randBytes(b, 32)))
			nonce := make([]byte, c.NonceSize())
			dst := make([]byte, 0, size+c.Overhead())
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				c.Seal(dst, nonce, pt, nil)
			}
		})
		b.Run(fmt.Sprintf("size=%s/%s-open", sizeName(size), stdName), func(b *testing.B) {
			c := must(std(randBytes(b, 32)))
			nonce := make([]byte, c.NonceSize())
			ct := c.Seal(nil, nonce, pt, nil)
			dst := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Open(dst, nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func BenchmarkAES256GCM(b *testing.B) {
	benchAEAD(b, AES256GCM, func(key []byte) (cipher.AEAD, error) {
		blk, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(blk)
	}, "stdlib")
}

func BenchmarkChaCha20Poly1305(b *testing.B) {
	benchAEAD(b, ChaCha20Poly1305, chacha20poly1305.New, "xcrypto")
}

func BenchmarkEd25519Sign(b *testing.B) {
	msg := make([]byte, 64)
	b.Run("keyhold", func(b *testing.B) {
		s := must(newKeyset(b, Ed25519).Signer())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(nil, msg, crypto.Hash(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
}

func BenchmarkECDSAP256Sign(b *testing.B) {
	digest := sha256.Sum256(make([]byte, 64))
	b.Run("keyhold", func(b *testing.B) {
		s := must(newKeyset(b, ECDSAP256).Signer())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(nil, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCrossing is the cost of one trip into the engine and back with
// almost no work: kh_abi_version (the bare cgo call), the engine's counters
// (a handle lookup), and a 1-byte read from the DRBG.
func BenchmarkCrossing(b *testing.B) {
	b.Run("abi", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			suite.be.ABIVersion()
		}
	})
	b.Run("rand1", func(b *testing.B) {
		r := suite.Rand()
		buf := make([]byte, 1)
		b.ReportAllocs()
		for b.Loop() {
			r.Read(buf)
		}
	})
	b.Run("stats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			suite.Stats()
		}
	})
}
