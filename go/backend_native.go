//go:build cgo

package keyhold

import (
	"fmt"
	"sync"

	"keyhold.dev/keyhold/internal/backend"
	"keyhold.dev/keyhold/internal/native"
)

// inProcessBackend returns the cgo backend, checking the linked library's
// ABI version once per process.
var inProcessBackend = sync.OnceValues(func() (backend.Backend, error) {
	be, err := native.New()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrABIMismatch, err)
	}
	return be, nil
})
