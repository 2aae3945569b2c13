package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"keyhold.dev/keyhold"
)

// Exit codes. They are a contract with scripts (docs/cli.md, `keyhold
// --help`): never renumber one.
const (
	exitOK        = 0 // success
	exitError     = 1 // any other failure
	exitUsage     = 2 // bad command line
	exitAuth      = 3 // authentication failed: tampered or foreign input, wrong key, bad signature or MAC
	exitPolicy    = 4 // refused by policy or a limit: usage limit, not exportable, disabled key, input too large
	exitIO        = 5 // a file could not be read or written
	exitKEK       = 6 // the key-encryption key is unavailable or wrong
	exitWrongType = 7 // the keyset's type does not offer the command's operation
)

const exitHelp = `Exit codes:
  0  success
  1  other error
  2  usage error (unknown command or flag, missing argument)
  3  authentication failed: tampered, truncated or foreign ciphertext,
     signature or tag, wrong key or associated data, damaged keyset file,
     an audit log with a defect ('audit verify')
  4  refused by policy or a limit: key usage limit reached, keyset not
     exportable, key disabled or destroyed, input larger than the limit,
     keyset file open to group or others
  5  I/O: missing file, unreadable or unwritable file or directory
  6  KEK unavailable: wrong or missing key-encryption key (or a keyset file
     altered so that it no longer opens), token absent, wrong PIN
  7  wrong keyset type for the command (for example sign with an AEAD keyset)`

// cliError is an error whose exit code and one-line message are already
// decided. Every error a command returns is one; anything else reaching
// the top comes from the command-line parser and is a usage error.
type cliError struct {
	code int
	msg  string // one line, without the "keyhold: " prefix
	err  error  // the cause, for errors.Is in tests
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func failf(code int, format string, args ...any) error {
	return &cliError{code: code, msg: fmt.Sprintf(format, args...)}
}

// wrap turns err into a cliError whose message starts with context. The
// exit code comes from what err is (see classify).
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return &cliError{code: ce.code, msg: fmt.Sprintf(format, args...) + ": " + ce.msg, err: ce}
	}
	return &cliError{code: classify(err), msg: fmt.Sprintf(format, args...) + ": " + describe(err), err: err}
}

// classify maps an error from the keyhold package or the OS to an exit
// code. The order matters where one error matches several sentinels: a
// KEK file that cannot be read is a KEK problem before it is an I/O one.
func classify(err error) int {
	var ce *cliError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, keyhold.ErrKEKUnavailable):
		return exitKEK
	case errors.Is(err, keyhold.ErrWrongPrimitive):
		return exitWrongType
	case errors.Is(err, keyhold.ErrAuthFailed),
		errors.Is(err, keyhold.ErrMalformed),
		errors.Is(err, keyhold.ErrUnknownKey):
		return exitAuth
	case errors.Is(err, keyhold.ErrLimitExceeded),
		errors.Is(err, keyhold.ErrPolicyDenied),
		errors.Is(err, keyhold.ErrNotExportable),
		errors.Is(err, keyhold.ErrKeyDisabled),
		errors.Is(err, keyhold.ErrKeyDestroyed),
		errors.Is(err, keyhold.ErrTooLarge),
		errors.Is(err, keyhold.ErrInsecureFile):
		return exitPolicy
	case errors.Is(err, keyhold.ErrIO), isFSError(err):
		return exitIO
	}
	return exitError
}

func isFSError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	return errors.As(err, &pe) || errors.As(err, &le) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrExist)
}

// describe is err's text for a user, on one line: a keyhold error's
// status text without the package's "keyhold: op:" prefix (the caller says
// what was being done), an OS error as "path: reason". keyhold errors never
// carry data, and OS errors name only paths, so nothing secret is printed.
func describe(err error) string {
	var ke *keyhold.Error
	var pe *fs.PathError
	var s string
	switch {
	case errors.As(err, &ke):
		s = ke.Code.String()
	case errors.As(err, &pe):
		s = pe.Path + ": " + pe.Err.Error()
	default:
		s = err.Error()
		for strings.HasPrefix(s, "keyhold: ") {
			s = strings.TrimPrefix(s, "keyhold: ")
		}
	}
	return strings.Join(strings.Fields(s), " ")
}
