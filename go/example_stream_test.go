package keyhold_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"keyhold.dev/keyhold"
)

// Encrypt data of any size as a stream and read it back: memory stays at a
// few segments whatever the size, and a tampered or truncated stream fails
// with ErrAuthFailed before any of the damaged segment is returned.
func ExampleAEAD_NewEncryptingWriter() {
	engine, err := keyhold.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	ks, err := engine.NewKeyset(keyhold.ChaCha20Poly1305)
	if err != nil {
		log.Fatal(err)
	}
	defer ks.Close()
	aead, err := ks.AEAD()
	if err != nil {
		log.Fatal(err)
	}

	var stored bytes.Buffer // a file, an object-store upload, ...
	w, err := aead.NewEncryptingWriter(&stored, []byte("backup 2026-11-24"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, strings.NewReader(strings.Repeat("log line\n", 100000))); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // seals the last segment
		log.Fatal(err)
	}

	r, err := aead.NewDecryptingReader(bytes.NewReader(stored.Bytes()), []byte("backup 2026-11-24"))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	fmt.Println(n, err)

	// The same stream cut short.
	cut := stored.Bytes()[:stored.Len()-100]
	r2, err := aead.NewDecryptingReader(bytes.NewReader(cut), []byte("backup 2026-11-24"))
	if err != nil {
		log.Fatal(err)
	}
	defer r2.Close()
	_, err = io.Copy(io.Discard, r2)
	fmt.Println(errors.Is(err, keyhold.ErrAuthFailed))
	// Output:
	// 900000 <nil>
	// true
}

// Read any range of a stream without decrypting the rest: only the
// segments the range covers are read and authenticated.
func ExampleAEAD_NewReaderAt() {
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
	var stored bytes.Buffer
	w, err := aead.NewEncryptingWriter(&stored, nil, keyhold.WithSegmentSize(4096))
	if err != nil {
		log.Fatal(err)
	}
	for i := range 100000 {
		fmt.Fprintf(w, "record %06d\n", i) // 14 bytes each
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	ra, err := aead.NewReaderAt(bytes.NewReader(stored.Bytes()), int64(stored.Len()), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ra.Close()
	rec := make([]byte, 13)
	if _, err := ra.ReadAt(rec, 14*77777); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ra.Size(), string(rec))
	// Output:
	// 1400000 record 077777
}
