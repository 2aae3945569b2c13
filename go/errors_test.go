package keyhold

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"keyhold.dev/keyhold/internal/backend"
)

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		code     Status
		sentinel error
		name     string
		text     string
	}{
		{StatusInvalidArgument, ErrInvalidArgument, "KH_E_INVALID_ARGUMENT", "invalid argument"},
		{StatusNullPointer, ErrNullPointer, "KH_E_NULL_POINTER", "null pointer"},
		{StatusBufferTooSmall, ErrBufferTooSmall, "KH_E_BUFFER_TOO_SMALL", "buffer too small"},
		{StatusStaleHandle, ErrStaleHandle, "KH_E_STALE_HANDLE", "stale handle"},
		{StatusWrongHandleType, ErrWrongHandleType, "KH_E_WRONG_HANDLE_TYPE", "wrong handle type"},
		{StatusWrongPrimitive, ErrWrongPrimitive, "KH_E_WRONG_PRIMITIVE", "wrong primitive"},
		{StatusUnsupported, ErrUnsupported, "KH_E_UNSUPPORTED", "unsupported"},
		{StatusAuthFailed, ErrAuthFailed, "KH_E_AUTH_FAILED", "authentication failed"},
		{StatusMalformed, ErrMalformed, "KH_E_MALFORMED", "malformed input"},
		{StatusUnknownKey, ErrUnknownKey, "KH_E_UNKNOWN_KEY", "unknown key"},
		{StatusKeyDisabled, ErrKeyDisabled, "KH_E_KEY_DISABLED", "key disabled"},
		{StatusKeyDestroyed, ErrKeyDestroyed, "KH_E_KEY_DESTROYED", "key destroyed"},
		{StatusTooLarge, ErrTooLarge, "KH_E_TOO_LARGE", "too large"},
		{StatusLimitExceeded, ErrLimitExceeded, "KH_E_LIMIT_EXCEEDED", "usage limit exceeded"},
		{StatusPolicyDenied, ErrPolicyDenied, "KH_E_POLICY_DENIED", "denied by policy"},
		{StatusNotExportable, ErrNotExportable, "KH_E_NOT_EXPORTABLE", "not exportable"},
		{StatusSelfTestFailed, ErrSelfTestFailed, "KH_E_SELF_TEST_FAILED", "self-test failed"},
		{StatusOutOfMemory, ErrOutOfMemory, "KH_E_OUT_OF_MEMORY", "out of memory"},
		{StatusInternal, ErrInternal, "KH_E_INTERNAL", "internal error"},
		{StatusEngineClosed, ErrEngineClosed, "KH_E_ENGINE_CLOSED", "engine closed"},
		{StatusIO, ErrIO, "KH_E_IO", "I/O error"},
		{StatusInsecureFile, ErrInsecureFile, "KH_E_INSECURE_FILE", "key file open to group or others (chmod 600)"},
		{StatusKEKUnavailable, ErrKEKUnavailable, "KH_E_KEK_UNAVAILABLE", "key-encryption key unavailable"},
		{StatusNotFound, ErrNotFound, "KH_E_NOT_FOUND", "file not found"},
	}
	if len(tests) != len(statusNames)-1 {
		t.Fatalf("table covers %d codes, statusNames has %d", len(tests), len(statusNames)-1)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := newError("aead.open", backend.Status(tc.code))
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, sentinel) = false", err)
			}
			if got := tc.code.Name(); got != tc.name {
				t.Errorf("Name() = %q, want %q", got, tc.name)
			}
			if want := "keyhold: aead.open: " + tc.text; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			wrapped := fmt.Errorf("context: %w", err)
			if !errors.Is(wrapped, tc.sentinel) {
				t.Errorf("wrapped error does not match its sentinel")
			}
			var ke *Error
			if !errors.As(wrapped, &ke) || ke.Code != tc.code || ke.Op != "aead.open" {
				t.Errorf("errors.As gave %+v", ke)
			}
			// No other sentinel matches.
			for _, other := range tests {
				if other.code != tc.code && errors.Is(err, other.sentinel) {
					t.Errorf("%v also matches %v", err, other.sentinel)
				}
			}
			closed := tc.code == StatusStaleHandle || tc.code == StatusEngineClosed
			if errors.Is(err, ErrClosed) != closed {
				t.Errorf("errors.Is(%v, ErrClosed) = %v, want %v", err, !closed, closed)
			}
			notExist := tc.code == StatusNotFound
			if errors.Is(err, fs.ErrNotExist) != notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !notExist, notExist)
			}
		})
	}
	if newError("x", 0) != nil {
		t.Error("newError(StatusOK) is not nil")
	}
	if got := Status(999).Name(); got != "KH_E_UNKNOWN_STATUS" {
		t.Errorf("unknown status name %q", got)
	}
	if got := (&Error{Code: 999}).Error(); !strings.HasPrefix(got, "keyhold: unknown status") {
		t.Errorf("unknown status text %q", got)
	}
}

// TestErrorsCarryNoData checks that error text never contains the input
// that failed, whatever the operation.
func TestErrorsCarryNoData(t *testing.T) {
	ks := newKeyset(t, AES256GCM)
	a := must(ks.AEAD())
	secret := []byte("SECRET-PLAINTEXT-MARKER-0123456789")
	ct := must(a.Encrypt(secret, []byte("aad-marker")))
	ct[len(ct)-1] ^= 1
	_, err := a.Decrypt(ct, []byte("aad-marker"))
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("tampered: %v", err)
	}
	msg := err.Error()
	for _, s := range []string{"SECRET", "aad-marker", fmt.Sprint(len(secret)), fmt.Sprintf("%x", ct[:4])} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q contains %q", msg, s)
		}
	}
}
