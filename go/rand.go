package keyhold

import (
	"io"

	"keyhold.dev/keyhold/internal/backend"
)

// Rand returns an io.Reader of cryptographically secure random bytes from
// the engine's CSPRNG (OpenSSL's DRBG, seeded by the operating system).
// Read fills the whole buffer or returns an error; it is safe for
// concurrent use.
func (e *Engine) Rand() io.Reader { return randReader{e} }

type randReader struct{ e *Engine }

// maxRandChunk keeps each call far below KH_MAX_INPUT_LEN.
const maxRandChunk = 1 << 30

func (r randReader) Read(p []byte) (int, error) {
	const op = "random.bytes"
	if err := r.e.check(op); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		chunk := p[done:min(len(p), done+maxRandChunk)]
		if st := r.e.be.RandomBytes(chunk); st != backend.StatusOK {
			return done, newError(op, st)
		}
		done += len(chunk)
	}
	return len(p), nil
}
