// Command keyhold-demo walks through the keyhold engine from Go, in process:
// the self-test, AEAD with rotation, a batch, and an HTTPS server whose TLS
// key never leaves the engine, reached by a real TLS client. It prints what
// it does and exits non-zero if anything misbehaves. `make demo` runs it.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"keyhold.dev/keyhold"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keyhold-demo:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	// In-process by default; KEYHOLD_ENDPOINT=unix:///path runs the same code
	// against a keyholdd daemon (scripts/demo-daemon does).
	engine, err := keyhold.Open()
	if err != nil {
		return err
	}
	defer engine.Close()
	fmt.Fprintf(w, "engine: keyhold %s (%s backend), power-on self-test passed\n", engine.Version(), engine.Backend())

	// 1. AEAD with rotation: old ciphertexts keep decrypting.
	ks, err := engine.NewKeyset(keyhold.AES256GCM)
	if err != nil {
		return err
	}
	defer ks.Close()
	aead, err := ks.AEAD()
	if err != nil {
		return err
	}
	secret := []byte("card 4111-1111-1111-1111")
	ct, err := aead.Encrypt(secret, []byte("customer 42"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "aead: %d-byte plaintext -> %d-byte ciphertext, header %s (version, alg, key id)\n",
		len(secret), len(ct), hex.EncodeToString(ct[:6]))
	newID, err := ks.Rotate()
	if err != nil {
		return err
	}
	pt, err := aead.Decrypt(ct, []byte("customer 42"))
	if err != nil || !bytes.Equal(pt, secret) {
		return fmt.Errorf("decrypt after rotation: %v", err)
	}
	fmt.Fprintf(w, "aead: rotated to key %08x; the old ciphertext still decrypts\n", newID)
	if _, err := aead.Decrypt(ct, []byte("customer 43")); !errors.Is(err, keyhold.ErrAuthFailed) {
		return fmt.Errorf("wrong associated data was not refused: %v", err)
	} else {
		fmt.Fprintf(w, "aead: wrong associated data -> %v\n", err)
	}

	// 2. A batch: 64 encryptions in one crossing into the engine.
	items := make([]keyhold.BatchItem, 64)
	for i := range items {
		items[i] = keyhold.BatchItem{Keyset: ks, Op: keyhold.OpAEADEncrypt, In: []byte(fmt.Sprintf("record %d", i))}
	}
	failed, err := engine.Batch(items)
	if err != nil || failed != 0 {
		return fmt.Errorf("batch: %d failed, %v", failed, err)
	}
	fmt.Fprintf(w, "batch: 64 records encrypted in one call, 0 failed\n")

	// 3. TLS with a key held in the engine.
	sigKS, err := engine.NewKeyset(keyhold.ECDSAP256)
	if err != nil {
		return err
	}
	defer sigKS.Close()
	signer, err := sigKS.Signer()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyhold demo"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return err
	}
	cert, _ := x509.ParseCertificate(der)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(rw, "hello over TLS signed inside keyhold")
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: signer}}},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(w, "tls: %s %s, server key ECDSA P-256 in the engine: %q\n",
		tls.VersionName(resp.TLS.Version), tls.CipherSuiteName(resp.TLS.CipherSuite), body)

	st, err := engine.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "engine: %d live handles, %d bytes of key material in %d locked bytes of guarded memory\n",
		st.LiveHandles, st.SecureBytesUsed, st.SecureBytesLocked)
	return nil
}
