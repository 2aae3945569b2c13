package keyhold

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSignedCert makes a certificate for 127.0.0.1 and localhost whose key
// (and self-signature) is the keyhold Signer.
func selfSignedCert(t *testing.T, s *Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "keyhold test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	// CreateCertificate signs through the crypto.Signer and checks the
	// signature it got with the public key.
	der, err := x509.CreateCertificate(suite.Rand(), tmpl, tmpl, s.Public(), s)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("self-signature does not verify: %v", err)
	}
	return cert
}

// TestTLSHandshake runs real TLS handshakes against an HTTPS server whose
// certificate key is a keyhold Signer: Go's crypto/tls as client (TLS 1.2
// and 1.3), and curl when it is installed.
func TestTLSHandshake(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ECDSAP256, ECDSAP256P1363} {
		t.Run(alg.String(), func(t *testing.T) {
			ks := newKeyset(t, alg)
			signer := must(ks.Signer())
			cert := selfSignedCert(t, signer)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello over "+tls.VersionName(r.TLS.Version))
			}))
			srv.TLS = &tls.Config{
				Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: signer, Leaf: cert}},
			}
			srv.StartTLS()
			defer srv.Close()

			pool := x509.NewCertPool()
			pool.AddCert(cert)
			versions := []uint16{tls.VersionTLS13}
			if alg != Ed25519 {
				versions = append(versions, tls.VersionTLS12)
			}
			before := signCount(t, ks)
			for _, v := range versions {
				client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
					RootCAs: pool, MinVersion: v, MaxVersion: v,
				}}}
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Fatalf("%s: %v", tls.VersionName(v), err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "hello over " + tls.VersionName(v); string(body) != want {
					t.Fatalf("got %q, want %q", body, want)
				}
				client.CloseIdleConnections()
			}
			if after := signCount(t, ks); after < before+uint64(len(versions)) {
				t.Errorf("the engine made %d signatures for %d handshakes", after-before, len(versions))
			}

			curl, err := exec.LookPath("curl")
			if err != nil {
				t.Log("curl not installed; skipping the curl client")
				return
			}
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(curl, "--silent", "--show-error", "--max-time", "20",
				"--cacert", caFile, srv.URL).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v: %s", err, out)
			}
			if !strings.HasPrefix(string(out), "hello over TLS 1.") {
				t.Fatalf("curl got %q", out)
			}
			t.Logf("curl: %s", out)
		})
	}
}

func signCount(t *testing.T, ks *Keyset) uint64 {
	t.Helper()
	var n uint64
	for _, k := range must(ks.Info()).Keys {
		n += k.UseCount
	}
	return n
}
