package keyhold

import (
	"context"
	"errors"

	"keyhold.dev/keyhold/internal/backend"
)

// withContext returns the backend to use for one call bound to ctx. A
// context that has already ended fails the call before it starts. In
// daemon mode the backend's wait is bound to ctx; the in-process engine
// cannot interrupt a call, so ctx is only checked before it.
func withContext(op string, be backend.Backend, ctx context.Context) (backend.Backend, error) {
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &Error{Op: op, Code: StatusDeadlineExceeded}
		}
		return nil, &Error{Op: op, Code: StatusCanceled}
	}
	if cb, ok := be.(backend.ContextBackend); ok && ctx.Done() != nil {
		return cb.WithContext(ctx), nil
	}
	return be, nil
}

// Ping checks that the engine answers: in daemon mode a round trip to the
// daemon, which must report itself ready; in-process it checks only that
// the engine is open.
func (e *Engine) Ping(ctx context.Context) error {
	const op = "engine.ping"
	if err := e.check(op); err != nil {
		return err
	}
	if e.client == nil {
		return nil
	}
	be, err := withContext(op, e.be, ctx)
	if err != nil {
		return err
	}
	h, ok := be.(interface {
		Health() (string, backend.Status)
	})
	if !ok {
		return nil
	}
	state, st := h.Health()
	if st != backend.StatusOK {
		return newError(op, st)
	}
	if state != "ready" {
		return &Error{Op: op, Code: StatusUnavailable}
	}
	return nil
}
