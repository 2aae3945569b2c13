package keyhold_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log"

	"golang.org/x/crypto/chacha20poly1305"

	"keyhold.dev/keyhold"
)

// Encrypt and decrypt with a managed keyset: the key never leaves the
// engine, and the ciphertext names the key that made it.
func Example() {
	engine, err := keyhold.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	ks, err := engine.NewKeyset(keyhold.AES256GCM)
	if err != nil {
		log.Fatal(err)
	}
	defer ks.Close()

	aead, err := ks.AEAD()
	if err != nil {
		log.Fatal(err)
	}
	ct, err := aead.Encrypt([]byte("hello, world"), []byte("record 42"))
	if err != nil {
		log.Fatal(err)
	}
	pt, err := aead.Decrypt(ct, []byte("record 42"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(pt))
	// Output: hello, world
}

// Rotation: new data is encrypted with the new primary key, old data still
// decrypts.
func ExampleKeyset_Rotate() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.ChaCha20Poly1305)
	defer ks.Close()
	aead, _ := ks.AEAD()

	old, _ := aead.Encrypt([]byte("written last year"), nil)
	newID, err := ks.Rotate()
	if err != nil {
		log.Fatal(err)
	}
	pt, err := aead.Decrypt(old, nil)
	fmt.Println(string(pt), err)

	info, _ := ks.Info()
	fmt.Println(len(info.Keys), "keys; new primary:", info.PrimaryKeyID == newID)
	// Output:
	// written last year <nil>
	// 2 keys; new primary: true
}

// Seal appends into the caller's buffer: with enough capacity nothing is
// allocated per message.
func ExampleAEAD_Seal() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.AES256GCM)
	defer ks.Close()
	aead, _ := ks.AEAD()

	msg := []byte("a message")
	buf := make([]byte, 0, 1024)
	ct, err := aead.Seal(buf[:0], msg, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(ct) == len(msg)+aead.Overhead(), &ct[0] == &buf[:1][0])
	// Output: true true
}

// Errors carry the operation and a code, never data; match them with
// errors.Is.
func ExampleError() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.AES256GCM)
	defer ks.Close()
	aead, _ := ks.AEAD()

	ct, _ := aead.Encrypt([]byte("secret"), nil)
	ct[len(ct)-1] ^= 1
	_, err := aead.Decrypt(ct, nil)
	fmt.Println(err)
	fmt.Println(errors.Is(err, keyhold.ErrAuthFailed))
	// Output:
	// keyhold: aead.open: authentication failed
	// true
}

// A raw keyset behind the standard cipher.AEAD interface interoperates with
// other implementations (here x/crypto's ChaCha20-Poly1305 with the same
// key).
func ExampleNewCipherAEAD() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	key := bytes.Repeat([]byte{0x42}, chacha20poly1305.KeySize) // a test key
	ks, err := engine.ImportRawKey(keyhold.ChaCha20Poly1305, key)
	if err != nil {
		log.Fatal(err)
	}
	defer ks.Close()
	aead, err := keyhold.NewCipherAEAD(ks)
	if err != nil {
		log.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize()) // never reuse a nonce with one key
	ct := aead.Seal(nil, nonce, []byte("interoperable"), nil)

	std, _ := chacha20poly1305.New(key)
	pt, err := std.Open(nil, nonce, ct, nil)
	fmt.Println(string(pt), err)
	// Output: interoperable <nil>
}

// The Signer is a crypto.Signer: standard Ed25519 signatures that
// crypto/ed25519 verifies.
func ExampleSigner() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.Ed25519)
	defer ks.Close()
	signer, err := ks.Signer()
	if err != nil {
		log.Fatal(err)
	}
	msg := []byte("signed by a key that never leaves the engine")
	sig, err := signer.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		log.Fatal(err)
	}
	pub := signer.Public().(ed25519.PublicKey)
	fmt.Println(ed25519.Verify(pub, msg, sig))
	// Output: true
}

// A keyhold Signer serves as the private key of a TLS certificate.
func ExampleSigner_tls() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.ECDSAP256)
	defer ks.Close()
	signer, _ := ks.Signer()

	var certDER []byte // a certificate for signer.Public(), from your CA
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{certDER}, PrivateKey: signer}},
	}
	_ = cfg // use with tls.Listen or http.Server.TLSConfig
}

// Deterministic encryption gives equal ciphertexts for equal inputs, for
// lookups over encrypted values.
func ExampleDAEAD() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.AES256SIV)
	defer ks.Close()
	d, _ := ks.DAEAD()
	a, _ := d.Encrypt([]byte("alice@example.com"), []byte("users.email"))
	b, _ := d.Encrypt([]byte("alice@example.com"), []byte("users.email"))
	fmt.Println(bytes.Equal(a, b))
	// Output: true
}

func ExampleMAC() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.HMACSHA256)
	defer ks.Close()
	mac, _ := ks.MAC()
	tag, _ := mac.Compute([]byte("GET /v1/orders"))
	fmt.Println(mac.Verify([]byte("GET /v1/orders"), tag))
	fmt.Println(errors.Is(mac.Verify([]byte("GET /v1/admin"), tag), keyhold.ErrAuthFailed))
	// Output:
	// <nil>
	// true
}

func ExampleKDF_Derive() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.ImportRawKey(keyhold.HKDFSHA256, []byte("input keying material (test)"))
	defer ks.Close()
	kdf, _ := ks.KDF()
	k1, _ := kdf.Derive([]byte("salt"), []byte("session 1"), 32)
	k2, _ := kdf.Derive([]byte("salt"), []byte("session 1"), 32)
	fmt.Printf("%d bytes, reproducible: %v\n", len(k1), bytes.Equal(k1, k2))
	// Output: 32 bytes, reproducible: true
}

// Batch runs many operations in one crossing into the engine; each item
// has its own result.
func ExampleEngine_Batch() {
	engine, _ := keyhold.Open()
	defer engine.Close()
	ks, _ := engine.NewKeyset(keyhold.AES256GCM)
	defer ks.Close()

	aead, _ := ks.AEAD()
	tampered, _ := aead.Encrypt([]byte("three"), nil)
	tampered[len(tampered)-1] ^= 1

	items := []keyhold.BatchItem{
		{Keyset: ks, Op: keyhold.OpAEADEncrypt, In: []byte("one")},
		{Keyset: ks, Op: keyhold.OpAEADEncrypt, In: []byte("two")},
		{Keyset: ks, Op: keyhold.OpAEADDecrypt, In: tampered},
	}
	failed, err := engine.Batch(items)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("failed:", failed)
	for _, it := range items {
		fmt.Println(len(it.Out) > 0, it.Err)
	}
	// Output:
	// failed: 1
	// true <nil>
	// true <nil>
	// false keyhold: batch.aead.open: authentication failed
}
