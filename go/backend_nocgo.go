//go:build !cgo

package keyhold

import (
	"fmt"

	"keyhold.dev/keyhold/internal/backend"
)

// inProcessBackend: without cgo there is no in-process engine. The package
// still builds (for the daemon client to come) and Open says why it
// cannot start.
func inProcessBackend() (backend.Backend, error) {
	return nil, fmt.Errorf("keyhold: engine.open: the in-process engine needs cgo (this binary was built with CGO_ENABLED=0): %w",
		ErrUnsupported)
}
