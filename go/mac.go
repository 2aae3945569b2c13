package keyhold

import (
	"runtime"

	"keyhold.dev/keyhold/internal/backend"
)

// MAC computes and verifies message authentication codes (HMAC-SHA256,
// HMAC-SHA512). Managed keysets produce header || tag, so Verify finds the
// right key after rotation; raw keysets produce the bare tag. A MAC is safe
// for concurrent use.
type MAC struct {
	ks      *Keyset
	tagSize int
}

// MAC returns the keyset's MAC primitive, or ErrWrongPrimitive.
func (k *Keyset) MAC() (*MAC, error) {
	if err := k.primitive("keyset.mac", PrimitiveMAC); err != nil {
		return nil, err
	}
	n := k.sizes.TagLen
	if !k.raw {
		n += k.sizes.HeaderLen
	}
	return &MAC{ks: k, tagSize: n}, nil
}

// Size is the length of Compute's output.
func (m *MAC) Size() int { return m.tagSize }

// Compute returns the MAC of msg with the primary key.
func (m *MAC) Compute(msg []byte) ([]byte, error) { return m.Sum(nil, msg) }

// Sum appends the MAC of msg to dst and returns the extended slice; with
// enough spare capacity in dst it allocates nothing.
func (m *MAC) Sum(dst, msg []byte) ([]byte, error) {
	const op = "mac.compute"
	k := m.ks
	h, err := k.handle(op)
	if err != nil {
		return dst, err
	}
	out, st := growCall(dst, m.tagSize, func(out []byte) (int, backend.Status) {
		return k.be.MACCompute(h, unaliased(out, msg), out)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return dst, k.e.failed(op, st)
	}
	return out, nil
}

// Verify checks tag against msg in constant time and returns nil or an
// error matching ErrAuthFailed. Raw keysets accept a tag truncated to at
// least 10 bytes (RFC 2104 section 5); managed keysets need the full tag.
func (m *MAC) Verify(msg, tag []byte) error {
	const op = "mac.verify"
	k := m.ks
	h, err := k.handle(op)
	if err != nil {
		return err
	}
	st := k.be.MACVerify(h, msg, tag)
	runtime.KeepAlive(k)
	return k.e.failed(op, st)
}
