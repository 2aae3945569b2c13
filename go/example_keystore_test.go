//go:build cgo

package keyhold_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"keyhold.dev/keyhold"
)

// Store a keyset encrypted under a file KEK, read its metadata without the
// KEK, and load it back (as a restarted service would).
func ExampleKeyset_Save() {
	dir, err := os.MkdirTemp("", "keyhold-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	engine, err := keyhold.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	// Created with a fresh random key on first use (0600); in production
	// DefaultKEK or a pkcs11: spec.
	kek, err := engine.OpenKEK("file:" + filepath.Join(dir, "master.key"))
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()

	ks, err := engine.NewKeyset(keyhold.AES256GCM)
	if err != nil {
		log.Fatal(err)
	}
	defer ks.Close()
	aead, _ := ks.AEAD()
	ct, _ := aead.Encrypt([]byte("kept across restarts"), nil)
	path := filepath.Join(dir, "app.keyset")
	if err := ks.Save(path, kek); err != nil {
		log.Fatal(err)
	}

	info, err := keyhold.ReadKeysetFileInfo(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Algorithm, info.KEKKind, len(info.Keys), "key, exportable:", info.Exportable)

	loaded, err := engine.LoadKeyset(path, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer loaded.Close()
	laead, _ := loaded.AEAD()
	pt, err := laead.Decrypt(ct, nil)
	fmt.Println(string(pt), err)

	// Not exportable unless generated with keyhold.Exportable().
	_, err = loaded.ExportWrapped(kek)
	fmt.Println(errors.Is(err, keyhold.ErrNotExportable))
	// Output:
	// AES256_GCM file 1 key, exportable: false
	// kept across restarts <nil>
	// true
}
