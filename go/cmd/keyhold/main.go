// Command keyhold is the command-line front end of the keyhold engine: it
// creates and manages encrypted keyset files and encrypts, decrypts, signs,
// verifies and MACs files with them, running the engine in process.
//
// Keyset files are encrypted under a key-encryption key (KEK) chosen with
// --kek or by the engine's default (KEYHOLD_KEK, else a master key under
// KEYHOLD_HOME). AEAD encrypt and decrypt stream inputs of any size; other
// inputs are read whole, up to maxInput bytes. Exit codes are a contract with scripts: see exitHelp and
// docs/cli.md.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A signal during a write would otherwise leave the temporary output
	// file behind; the final name is never touched before the rename.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		removeTempFiles()
		code := 128 + 2
		if n, ok := s.(syscall.Signal); ok {
			code = 128 + int(n)
		}
		os.Exit(code)
	}()

	a := newApp(os.Stdin, os.Stdout, os.Stderr)
	os.Exit(a.run(os.Args[1:]))
}
