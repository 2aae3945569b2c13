package keyhold

import (
	"context"
	"errors"
	"io/fs"
	"strconv"

	"keyhold.dev/keyhold/internal/backend"
)

// Status is the engine's result code (kh_status in keyhold.h). The numbers
// are stable and never reused; StatusOK is 0.
type Status uint32

// The engine's result codes.
const (
	StatusOK              = Status(backend.StatusOK)
	StatusInvalidArgument = Status(backend.StatusInvalidArgument)
	StatusNullPointer     = Status(backend.StatusNullPointer)
	StatusBufferTooSmall  = Status(backend.StatusBufferTooSmall)
	StatusStaleHandle     = Status(backend.StatusStaleHandle)
	StatusWrongHandleType = Status(backend.StatusWrongHandleType)
	StatusWrongPrimitive  = Status(backend.StatusWrongPrimitive)
	StatusUnsupported     = Status(backend.StatusUnsupported)
	StatusAuthFailed      = Status(backend.StatusAuthFailed)
	StatusMalformed       = Status(backend.StatusMalformed)
	StatusUnknownKey      = Status(backend.StatusUnknownKey)
	StatusKeyDisabled     = Status(backend.StatusKeyDisabled)
	StatusKeyDestroyed    = Status(backend.StatusKeyDestroyed)
	StatusTooLarge        = Status(backend.StatusTooLarge)
	StatusLimitExceeded   = Status(backend.StatusLimitExceeded)
	StatusPolicyDenied    = Status(backend.StatusPolicyDenied)
	StatusNotExportable   = Status(backend.StatusNotExportable)
	StatusSelfTestFailed  = Status(backend.StatusSelfTestFailed)
	StatusOutOfMemory     = Status(backend.StatusOutOfMemory)
	StatusInternal        = Status(backend.StatusInternal)
	StatusEngineClosed    = Status(backend.StatusEngineClosed)
	StatusIO              = Status(backend.StatusIO)
	StatusInsecureFile    = Status(backend.StatusInsecureFile)
	StatusKEKUnavailable  = Status(backend.StatusKEKUnavailable)
	StatusNotFound        = Status(backend.StatusNotFound)

	// Daemon mode only: failures of the transport, never of the engine.
	StatusUnavailable      = Status(backend.StatusUnavailable)
	StatusDeadlineExceeded = Status(backend.StatusDeadlineExceeded)
	StatusCanceled         = Status(backend.StatusCanceled)
)

var transportNames = map[Status]struct{ name, text string }{
	StatusUnavailable:      {"KH_GO_UNAVAILABLE", "daemon unavailable"},
	StatusDeadlineExceeded: {"KH_GO_DEADLINE_EXCEEDED", "deadline exceeded"},
	StatusCanceled:         {"KH_GO_CANCELED", "canceled"},
}

var statusNames = [...]struct{ name, text string }{
	StatusOK:              {"KH_OK", "ok"},
	StatusInvalidArgument: {"KH_E_INVALID_ARGUMENT", "invalid argument"},
	StatusNullPointer:     {"KH_E_NULL_POINTER", "null pointer"},
	StatusBufferTooSmall:  {"KH_E_BUFFER_TOO_SMALL", "buffer too small"},
	StatusStaleHandle:     {"KH_E_STALE_HANDLE", "stale handle"},
	StatusWrongHandleType: {"KH_E_WRONG_HANDLE_TYPE", "wrong handle type"},
	StatusWrongPrimitive:  {"KH_E_WRONG_PRIMITIVE", "wrong primitive"},
	StatusUnsupported:     {"KH_E_UNSUPPORTED", "unsupported"},
	StatusAuthFailed:      {"KH_E_AUTH_FAILED", "authentication failed"},
	StatusMalformed:       {"KH_E_MALFORMED", "malformed input"},
	StatusUnknownKey:      {"KH_E_UNKNOWN_KEY", "unknown key"},
	StatusKeyDisabled:     {"KH_E_KEY_DISABLED", "key disabled"},
	StatusKeyDestroyed:    {"KH_E_KEY_DESTROYED", "key destroyed"},
	StatusTooLarge:        {"KH_E_TOO_LARGE", "too large"},
	StatusLimitExceeded:   {"KH_E_LIMIT_EXCEEDED", "usage limit exceeded"},
	StatusPolicyDenied:    {"KH_E_POLICY_DENIED", "denied by policy"},
	StatusNotExportable:   {"KH_E_NOT_EXPORTABLE", "not exportable"},
	StatusSelfTestFailed:  {"KH_E_SELF_TEST_FAILED", "self-test failed"},
	StatusOutOfMemory:     {"KH_E_OUT_OF_MEMORY", "out of memory"},
	StatusInternal:        {"KH_E_INTERNAL", "internal error"},
	StatusEngineClosed:    {"KH_E_ENGINE_CLOSED", "engine closed"},
	StatusIO:              {"KH_E_IO", "I/O error"},
	StatusInsecureFile:    {"KH_E_INSECURE_FILE", "key file open to group or others (chmod 600)"},
	StatusKEKUnavailable:  {"KH_E_KEK_UNAVAILABLE", "key-encryption key unavailable"},
	StatusNotFound:        {"KH_E_NOT_FOUND", "file not found"},
}

// Name returns the C name of s, such as "KH_E_AUTH_FAILED" (the same text
// as kh_status_name), or "KH_E_UNKNOWN_STATUS".
func (s Status) Name() string {
	if int(s) < len(statusNames) {
		return statusNames[s].name
	}
	if t, ok := transportNames[s]; ok {
		return t.name
	}
	return "KH_E_UNKNOWN_STATUS"
}

// String returns a short lower-case description such as "authentication
// failed".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s].text
	}
	if t, ok := transportNames[s]; ok {
		return t.text
	}
	return "unknown status " + strconv.FormatUint(uint64(s), 10)
}

// Error is the error type of every keyhold operation. It carries the
// operation's name and the engine's status code and never any data: no key
// bytes, no plaintext, no lengths of secrets.
//
// Use errors.Is with the sentinels (ErrAuthFailed, ErrStaleHandle, ...)
// rather than comparing codes.
type Error struct {
	Op   string // the operation, such as "aead.open"; empty for the sentinels
	Code Status // the engine's result code
	// Detail is the engine's explanation where it gives one: for Open, the
	// configuration variable or file key at fault. Never secret data.
	Detail string
}

// Error returns text such as "keyhold: aead.open: authentication failed".
func (e *Error) Error() string {
	s := "keyhold: " + e.Code.String()
	if e.Op != "" {
		s = "keyhold: " + e.Op + ": " + e.Code.String()
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is the sentinel for e's code. ErrClosed matches
// every error that means the object is gone: a handle closed on the Go side
// or in the engine (StatusStaleHandle) and an object whose engine was
// closed (StatusEngineClosed). A missing keyset file (StatusNotFound) also
// matches fs.ErrNotExist, as the os package's errors do.
func (e *Error) Is(target error) bool {
	if target == ErrClosed {
		return e.Code == StatusStaleHandle || e.Code == StatusEngineClosed
	}
	if target == fs.ErrNotExist {
		return e.Code == StatusNotFound
	}
	if target == context.DeadlineExceeded {
		return e.Code == StatusDeadlineExceeded
	}
	if target == context.Canceled {
		return e.Code == StatusCanceled
	}
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Code == e.Code
}

// Sentinel errors, one per status code, for errors.Is.
var (
	ErrInvalidArgument = &Error{Code: StatusInvalidArgument}
	ErrNullPointer     = &Error{Code: StatusNullPointer}
	ErrBufferTooSmall  = &Error{Code: StatusBufferTooSmall}
	ErrStaleHandle     = &Error{Code: StatusStaleHandle}
	ErrWrongHandleType = &Error{Code: StatusWrongHandleType}
	ErrWrongPrimitive  = &Error{Code: StatusWrongPrimitive}
	ErrUnsupported     = &Error{Code: StatusUnsupported}
	ErrAuthFailed      = &Error{Code: StatusAuthFailed}
	ErrMalformed       = &Error{Code: StatusMalformed}
	ErrUnknownKey      = &Error{Code: StatusUnknownKey}
	ErrKeyDisabled     = &Error{Code: StatusKeyDisabled}
	ErrKeyDestroyed    = &Error{Code: StatusKeyDestroyed}
	ErrTooLarge        = &Error{Code: StatusTooLarge}
	ErrLimitExceeded   = &Error{Code: StatusLimitExceeded}
	ErrPolicyDenied    = &Error{Code: StatusPolicyDenied}
	ErrNotExportable   = &Error{Code: StatusNotExportable}
	ErrSelfTestFailed  = &Error{Code: StatusSelfTestFailed}
	ErrOutOfMemory     = &Error{Code: StatusOutOfMemory}
	ErrInternal        = &Error{Code: StatusInternal}
	ErrEngineClosed    = &Error{Code: StatusEngineClosed}
	// ErrIO: a keyset file could not be read, written or made durable.
	ErrIO = &Error{Code: StatusIO}
	// ErrInsecureFile: a key file (keyset or file KEK) grants some access
	// to group or others; keyhold refuses to use it until it is chmod 600.
	ErrInsecureFile = &Error{Code: StatusInsecureFile}
	// ErrKEKUnavailable: the KEK cannot be reached (unset environment
	// variable, absent PKCS#11 token or module, wrong PIN).
	ErrKEKUnavailable = &Error{Code: StatusKEKUnavailable}
	// ErrNotFound: the keyset file does not exist. It also matches
	// fs.ErrNotExist.
	ErrNotFound = &Error{Code: StatusNotFound}
)

// ErrClosed matches (with errors.Is) any error caused by using an object
// after it or its engine was closed: StatusStaleHandle and
// StatusEngineClosed.
var ErrClosed = errors.New("keyhold: closed")

// ErrUnavailable (daemon mode): the daemon could not be reached or the
// connection was lost before the answer came. The client redials with
// backoff, so a later call succeeds once the daemon is back. A call that
// failed this way may or may not have run in the daemon.
var ErrUnavailable = &Error{Code: StatusUnavailable}

// ErrDeadlineExceeded (daemon mode) also matches context.DeadlineExceeded;
// ErrCanceled matches context.Canceled.
var (
	ErrDeadlineExceeded = &Error{Code: StatusDeadlineExceeded}
	ErrCanceled         = &Error{Code: StatusCanceled}
)

// ErrABIMismatch is returned by Open when the linked native library speaks
// another major ABI version than this package was written for.
var ErrABIMismatch = errors.New("keyhold: native library ABI version mismatch")

// newError returns nil for StatusOK and an *Error otherwise.
func newError(op string, st backend.Status) error {
	if st == backend.StatusOK {
		return nil
	}
	return &Error{Op: op, Code: Status(st)}
}
