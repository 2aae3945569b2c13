package remote

import "keyhold.dev/keyhold/internal/backend"

// Batch sends every item in one frame (kBatch) and copies each item's
// output into its Out. An item refused by the daemon's ACL has
// StatusPolicyDenied; the others run.
func (v view) Batch(items []backend.BatchItem) (int, backend.Status) {
	if len(items) == 0 {
		return 0, backend.StatusOK
	}
	if len(items) > backend.MaxBatch {
		return 0, backend.StatusInvalidArgument
	}
	size := frameHeaderLen
	for i := range items {
		it := &items[i]
		size += requestItemFixed + len(it.In) + len(it.In2) + len(it.In3)
		if len(it.Out) > maxPayload {
			return 0, backend.StatusTooLarge
		}
	}
	if size > maxFrameLen {
		return 0, backend.StatusTooLarge
	}
	cn, err := v.cl.conn(int(v.cl.rr.Add(1)) % len(v.cl.conns))
	if err != nil {
		return 0, backend.StatusUnavailable
	}
	c := getCall()
	defer putCall(c)
	c.batch = items
	if err := cn.send(c); err != nil {
		if err == errTooLarge {
			return 0, backend.StatusTooLarge
		}
		return 0, backend.StatusUnavailable
	}
	if st := cn.wait(v.ctx, c); st != backend.StatusOK {
		return 0, st
	}
	h, _ := parseRespHeader(c.resp)
	if h.status != 0 {
		return 0, backend.Status(h.status)
	}
	if int(h.count) != len(items) {
		cn.fail(errProtocol)
		return 0, backend.StatusUnavailable
	}
	rest := c.resp[frameHeaderLen:]
	failed := 0
	for i := range items {
		var r respItem
		var ok bool
		if r, rest, ok = nextItem(rest); !ok || len(r.out) > len(items[i].Out) {
			cn.fail(errProtocol)
			return 0, backend.StatusUnavailable
		}
		it := &items[i]
		it.Status = backend.Status(r.status)
		it.OutLen = copy(it.Out, r.out)
		if it.Status == backend.StatusBufferTooSmall {
			it.OutLen = int(r.value)
		}
		if it.Status != backend.StatusOK {
			failed++
		}
	}
	if len(rest) != 0 {
		cn.fail(errProtocol)
		return 0, backend.StatusUnavailable
	}
	return failed, backend.StatusOK
}
