package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"keyhold.dev/keyhold"
)

// Streaming encryption (docs/spec/stream.md) for AEAD keysets: any input
// size in a few segments of memory. A one-shot ciphertext (first byte 0x01,
// made by earlier versions) still decrypts, within maxInput.

// streamVersion is the first byte of every stream (docs/spec/stream.md §2).
const streamVersion = 0x81

// streamIOBuffer is the most the encrypting copy reads per system call
// (the stream writer reads straight into its own buffer; see
// keyhold.StreamWriter.ReadFrom).
const streamIOBuffer = 1 << 20

// openInput opens path ("" or "-": standard input) for streaming and
// returns its size when it is a regular file (else -1).
func (a *app) openInput(path, what string) (io.Reader, int64, func(), error) {
	if isStdio(path) {
		if a.isTerminal(a.stdin) {
			fmt.Fprintf(a.stderr, "keyhold: reading the %s from the terminal (end with Ctrl-D)\n", what)
		}
		total := int64(-1)
		if f, ok := a.stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				total = fi.Size()
			}
		}
		return a.stdin, total, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, wrap(err, "%s", what)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, wrap(err, "%s", what)
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, nil, failf(exitIO, "%s: %s is a directory", what, path)
	}
	total := int64(-1)
	if fi.Mode().IsRegular() {
		total = fi.Size()
	}
	return f, total, func() { f.Close() }, nil
}

// streamOutput runs fn with a writer for o. A file is written to a
// temporary file in its directory and renamed over the target only after
// fn succeeded and the data is synced, so a failure at any point leaves no
// partial output (the temporary file is removed, also on a signal).
// Standard output gets the data as fn produces it. The stream reader and
// writer hand over whole segments (64 KiB by default), so writes go to the
// file unbuffered: a buffer would only add a copy.
func (a *app) streamOutput(o output, fn func(io.Writer) error) (err error) {
	if isStdio(o.path) {
		return fn(a.stdout)
	}
	if fi, err := os.Stat(o.path); err == nil && fi.IsDir() {
		return failf(exitIO, "%s: %s is a directory", o.what, o.path)
	}
	dir := filepath.Dir(o.path)
	f, tmp, err := createTemp(dir, filepath.Base(o.path), o.perm)
	if err != nil {
		return wrap(err, "%s", o.what)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
		forgetTempFile(tmp)
	}()
	if err = fn(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return wrap(err, "%s", o.what)
	}
	if err = f.Close(); err != nil {
		return wrap(err, "%s", o.what)
	}
	if err = os.Rename(tmp, o.path); err != nil {
		return wrap(err, "%s", o.what)
	}
	if err = syncDir(dir); err != nil {
		return wrap(err, "%s", o.what)
	}
	return nil
}

// ioError tells a failure of the input or output file (exit 5) from the
// engine's (already a cliError or a *keyhold.Error).
type ioError struct{ err error }

func (e ioError) Error() string { return e.err.Error() }
func (e ioError) Unwrap() error { return e.err }

type ioReader struct{ r io.Reader }

func (r ioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = ioError{err}
	}
	return n, err
}

type ioWriter struct{ w io.Writer }

func (w ioWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = ioError{err}
	}
	return n, err
}

// encryptStream encrypts in to out as a stream with the keyset's primary
// key.
func (a *app) encryptStream(ksPath string, ad []byte, in, out string) error {
	const cmd = "encrypt"
	o := output{path: out, what: "ciphertext", perm: 0o644, binary: true}
	if err := a.checkOutput(o); err != nil {
		return err
	}
	src, total, closeIn, err := a.openInput(in, "input")
	if err != nil {
		return err
	}
	defer closeIn()
	// The output is renamed into place only after the keyset (its use
	// count) was saved: a run that dies in between loses a count in the
	// safe direction, never leaves a ciphertext of an uncounted use.
	return a.streamOutput(o, func(dst io.Writer) error {
		return a.useKeyset(ksPath, true, func(ks *keyhold.Keyset) error {
			if err := requirePrimitive(cmd, ksPath, ks.Algorithm(), keyhold.PrimitiveAEAD); err != nil {
				return err
			}
			aead, err := ks.AEAD()
			if err != nil {
				return wrap(err, "%s", cmd)
			}
			w, err := aead.NewEncryptingWriter(ioWriter{dst}, ad)
			if errors.Is(err, keyhold.ErrLimitExceeded) {
				return &cliError{code: exitPolicy, err: err, msg: fmt.Sprintf(
					"encrypt: the primary key of %s has reached its usage limit; rotate the keyset ('keyhold keyset rotate %s')", ksPath, ksPath)}
			}
			if err != nil {
				return streamIOError(cmd, err)
			}
			p := a.newProgress("encrypting", total)
			_, err = io.CopyBuffer(w, ioReader{io.TeeReader(src, p)}, make([]byte, streamIOBuffer))
			p.finish()
			if err != nil {
				w.Close()
				return streamIOError(cmd, err)
			}
			return streamIOError(cmd, w.Close())
		})
	})
}

// decryptInput decrypts a stream, or (first byte not a stream's) a one-shot
// ciphertext of an earlier version within maxInput.
func (a *app) decryptInput(ksPath string, ad []byte, in, out string) error {
	const cmd = "decrypt"
	src, total, closeIn, err := a.openInput(in, "input")
	if err != nil {
		return err
	}
	defer closeIn()
	// The first bytes tell a stream from a one-shot ciphertext; they are
	// read once and put back in front of the rest.
	head := make([]byte, keyhold.StreamHeaderLen)
	n, err := io.ReadFull(ioReader{src}, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return streamIOError(cmd, err)
	}
	head = head[:n]
	br := io.MultiReader(bytes.NewReader(head), ioReader{src})
	o := output{path: out, what: "plaintext", perm: 0o600}
	if len(head) == 0 || head[0] != streamVersion {
		ct, err := a.readLimited(br, total, in, "input")
		if err != nil {
			return err
		}
		var pt []byte
		err = a.useKeyset(ksPath, false, func(ks *keyhold.Keyset) error {
			if err := requirePrimitive(cmd, ksPath, ks.Algorithm(), keyhold.PrimitiveAEAD); err != nil {
				return err
			}
			var err error
			pt, err = crypt(ks, false, ct, ad)
			return inputError(cmd, "ciphertext", ksPath, ct, err)
		})
		if err != nil {
			return err
		}
		return a.writeOutput(o, pt)
	}
	header := append([]byte(nil), head...)
	if err := a.checkOutput(o); err != nil {
		return err
	}
	// Decryption changes nothing in the keyset: it is not rewritten.
	return a.useKeyset(ksPath, false, func(ks *keyhold.Keyset) error {
		if err := requirePrimitive(cmd, ksPath, ks.Algorithm(), keyhold.PrimitiveAEAD); err != nil {
			return err
		}
		aead, err := ks.AEAD()
		if err != nil {
			return wrap(err, "%s", cmd)
		}
		p := a.newProgress("decrypting", total)
		r, err := aead.NewDecryptingReader(io.TeeReader(br, p), ad)
		if err != nil {
			p.finish()
			return streamError(cmd, ksPath, header, err)
		}
		defer r.Close()
		err = a.streamOutput(o, func(dst io.Writer) error {
			_, err := r.WriteTo(ioWriter{dst})
			return err
		})
		p.finish()
		return streamError(cmd, ksPath, header, err)
	})
}

// readLimited reads a one-shot input whole, refusing more than maxInput.
func (a *app) readLimited(r io.Reader, total int64, name, what string) ([]byte, error) {
	if isStdio(name) {
		name = "standard input"
	}
	if total > a.maxInput {
		return nil, tooLarge(what, name, a.maxInput)
	}
	data, err := readAll(io.LimitReader(r, a.maxInput+1), make([]byte, 0, max(min(total, a.maxInput), 0)+1))
	if err != nil {
		return nil, wrap(err, "%s: reading %s", what, name)
	}
	if int64(len(data)) > a.maxInput {
		return nil, tooLarge(what, name, a.maxInput)
	}
	return data, nil
}

// streamError explains a failed stream decryption: the engine's verdict
// as inputError words it, an I/O failure as such.
func streamError(cmd, ksPath string, header []byte, err error) error {
	if err == nil {
		return nil
	}
	var ie ioError
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	if errors.As(err, &ie) {
		return wrap(ie.err, "%s", cmd)
	}
	return inputError(cmd, "ciphertext", ksPath, header, err)
}

func streamIOError(cmd string, err error) error {
	if err == nil {
		return nil
	}
	var ie ioError
	if errors.As(err, &ie) {
		return wrap(ie.err, "%s", cmd)
	}
	return wrap(err, "%s", cmd)
}
