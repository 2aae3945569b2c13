package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxInput is the largest input the one-shot commands accept (sign,
// verify, mac, aes256-siv, one-shot ciphertexts of earlier versions): they
// hold the whole input in memory, and a one-shot decryption must
// authenticate everything before it writes any byte. AEAD encrypt and
// decrypt stream instead (stream.go) and have no limit. The number is
// documented in docs/cli.md.
const maxInput = 64 << 20

// maxSmallInput bounds the files that are always small: signatures, MAC
// tags, wrapped keysets.
const maxSmallInput = 1 << 20

const stdioName = "-"

func isStdio(path string) bool { return path == "" || path == stdioName }

// readInput reads path whole ("" or "-" is stdin), refusing more than
// limit bytes. A regular file is checked by size before it is read, so an
// oversized input costs nothing; a pipe is read up to limit+1 bytes.
func (a *app) readInput(path, what string, limit int64) ([]byte, error) {
	var r io.Reader
	name := path
	total := int64(-1)
	if isStdio(path) {
		r, name = a.stdin, "standard input"
		if a.isTerminal(a.stdin) {
			// Otherwise the command seems to hang.
			fmt.Fprintf(a.stderr, "keyhold: reading the %s from the terminal (end with Ctrl-D)\n", what)
		}
		if f, ok := a.stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				total = fi.Size()
			}
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, wrap(err, "%s", what)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, wrap(err, "%s", what)
		}
		if fi.IsDir() {
			return nil, failf(exitIO, "%s: %s is a directory", what, path)
		}
		if fi.Mode().IsRegular() {
			total = fi.Size()
		}
		r = f
	}
	if total > limit {
		return nil, tooLarge(what, name, limit)
	}
	p := a.newProgress("reading "+what, total)
	defer p.finish()
	buf := make([]byte, 0, max(min(total, limit), 0)+1)
	data, err := readAll(io.TeeReader(io.LimitReader(r, limit+1), p), buf)
	if err != nil {
		return nil, wrap(err, "%s: reading %s", what, name)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(what, name, limit)
	}
	return data, nil
}

func tooLarge(what, name string, limit int64) error {
	return failf(exitPolicy, "%s: %s is larger than %s, the most this command reads in one piece",
		what, name, sizeString(limit))
}

// readAll is io.ReadAll into buf, so a known size costs one allocation.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// output says how writeOutput may deliver data.
type output struct {
	path   string      // "" or "-": standard output
	what   string      // for messages: "ciphertext", "signature", ...
	perm   os.FileMode // before umask; 0600 for anything secret
	binary bool        // refuse to print it on a terminal
}

// writeOutput delivers data to o.path. A file is written to a temporary
// file in the same directory, synced, then renamed over the target, and the
// directory synced: the target either keeps its old content or gets all of
// data, never a part (a failed or interrupted run removes the temporary).
func (a *app) writeOutput(o output, data []byte) error {
	if err := a.checkOutput(o); err != nil {
		return err
	}
	if isStdio(o.path) {
		if _, err := a.stdout.Write(data); err != nil {
			return wrap(err, "writing the %s to standard output", o.what)
		}
		return nil
	}
	if err := a.writeFileAtomic(o.path, data, o.perm, o.what); err != nil {
		return wrap(err, "%s", o.what)
	}
	return nil
}

// checkOutput refuses a binary output to a terminal. Commands call it
// before they do any work, so that a refused output costs no key use.
// It also refuses an output that is the keyset file or the KEK file in
// use: replacing either with a ciphertext would lose the keys.
func (a *app) checkOutput(o output) error {
	if isStdio(o.path) {
		if o.binary && a.isTerminal(a.stdout) {
			return usageErrorf("refusing to write the binary %s to a terminal: use -o FILE or redirect standard output", o.what)
		}
		return nil
	}
	fi, err := os.Stat(o.path)
	if err != nil {
		return nil // a new file cannot be one of ours
	}
	protected := []string{a.keysetPath}
	if p, _ := a.kekFile(); p != "" {
		protected = append(protected, p)
	}
	for _, p := range protected {
		if p == "" {
			continue
		}
		if pfi, err := os.Stat(p); err == nil && os.SameFile(fi, pfi) {
			return usageErrorf("refusing to write the %s over %s, which holds keys", o.what, o.path)
		}
	}
	return nil
}

func (a *app) writeFileAtomic(path string, data []byte, perm os.FileMode, what string) (err error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return failf(exitIO, "%s is a directory", path)
	}
	dir := filepath.Dir(path)
	f, tmp, err := createTemp(dir, filepath.Base(path), perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
		forgetTempFile(tmp)
	}()
	p := a.newProgress("writing "+what, int64(len(data)))
	// Chunks only so that the progress bar moves; the page cache makes
	// them as cheap as one write.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1<<20)
		if _, err = f.Write(rest[:n]); err != nil {
			p.finish()
			return err
		}
		p.Write(rest[:n])
		rest = rest[n:]
	}
	p.finish()
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// createTemp is os.CreateTemp with a chosen mode (the umask applies), so
// a plaintext is never readable by others, not even for a moment.
func createTemp(dir, base string, perm os.FileMode) (*os.File, string, error) {
	for range 10 {
		var rnd [8]byte
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+".keyhold-tmp-"+hex.EncodeToString(rnd[:]))
		rememberTempFile(name) // before creating it, so a signal cannot slip between
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			return f, name, nil
		}
		forgetTempFile(name)
		if !errors.Is(err, os.ErrExist) {
			// Name the directory: the temporary name means nothing to
			// the user.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = &fs.PathError{Op: "create", Path: dir, Err: pe.Err}
			}
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("cannot create a temporary file in %s", dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err // EINVAL: the file system cannot sync directories
	}
	return nil
}

// The temporary files being written, removed by the signal handler.
var (
	tempMu    sync.Mutex
	tempFiles = map[string]struct{}{}
)

func rememberTempFile(name string) {
	tempMu.Lock()
	tempFiles[name] = struct{}{}
	tempMu.Unlock()
}

func forgetTempFile(name string) {
	tempMu.Lock()
	delete(tempFiles, name)
	tempMu.Unlock()
}

func removeTempFiles() {
	tempMu.Lock()
	defer tempMu.Unlock()
	for name := range tempFiles {
		os.Remove(name)
	}
}

// lockKeysetDir takes an exclusive flock on the directory holding a keyset
// file, for the read-modify-write of commands that change the keyset (use
// counts included): two concurrent runs would otherwise both load count N
// and both save N+1, under-counting toward the usage limit. The directory
// is locked, not the file, because Save replaces the file by rename (a lock
// on the old inode would protect nothing) and a lock file would be litter.
// File systems without flock (ENOLCK, EOPNOTSUPP) run unlocked.
func lockKeysetDir(keysetPath string) (unlock func(), err error) {
	d, err := os.Open(filepath.Dir(keysetPath))
	if err != nil {
		return nil, err
	}
	fd := int(d.Fd())
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		d.Close()
		if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			return func() {}, nil
		}
		return nil, err
	}
	return func() {
		unix.Flock(fd, unix.LOCK_UN)
		d.Close()
	}, nil
}

// isTerminal reports whether v is an *os.File open on a terminal.
func (a *app) isTerminal(v any) bool {
	if a.forceTTY != nil {
		return a.forceTTY(v)
	}
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
