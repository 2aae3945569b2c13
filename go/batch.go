package keyhold

import (
	"context"
	"runtime"
	"sync"

	"keyhold.dev/keyhold/internal/backend"
)

// Op is a batch operation.
type Op uint32

// The batch operations. Each uses the BatchItem fields named here.
const (
	OpAEADEncrypt   = Op(backend.OpAEADEncrypt)   // In = plaintext, AAD
	OpAEADDecrypt   = Op(backend.OpAEADDecrypt)   // In = ciphertext, AAD
	OpDAEADEncrypt  = Op(backend.OpDAEADEncrypt)  // In = plaintext, AAD
	OpDAEADDecrypt  = Op(backend.OpDAEADDecrypt)  // In = ciphertext, AAD
	OpMACCompute    = Op(backend.OpMACCompute)    // In = message
	OpMACVerify     = Op(backend.OpMACVerify)     // In = message, Tag = MAC tag; no output
	OpSigSign       = Op(backend.OpSigSign)       // In = message (keyhold-format signature)
	OpSigVerify     = Op(backend.OpSigVerify)     // In = message, Tag = signature; no output
	OpAEADSealNonce = Op(backend.OpAEADSealNonce) // raw keysets: In = plaintext, AAD, Nonce
	OpAEADOpenNonce = Op(backend.OpAEADOpenNonce) // raw keysets: In = ciphertext, AAD, Nonce
)

// MaxBatch is the largest number of items one engine crossing carries;
// Engine.Batch splits longer slices.
const MaxBatch = backend.MaxBatch

// BatchItem is one operation of a batch. The engine reads the inputs and
// writes the output straight into Dst's spare capacity (no copies); Batch
// grows Dst only when its spare capacity is too small.
type BatchItem struct {
	Keyset *Keyset
	Op     Op
	In     []byte // plaintext, ciphertext or message
	AAD    []byte // associated data (AEAD and DAEAD operations)
	Tag    []byte // MAC tag or signature to verify (verify operations)
	Nonce  []byte // caller nonce (OpAEADSealNonce, OpAEADOpenNonce)
	Dst    []byte // the output is appended to Dst

	Out []byte // result: Dst extended by the output, or Dst on failure
	Err error  // result: nil or an *Error for this item
}

var batchItemsPool = sync.Pool{New: func() any { return new([]backend.BatchItem) }}

// Batch runs every item in one crossing into the engine (MaxBatch items per
// crossing), in order and each independently: one item failing does not
// stop the others. It returns how many items failed; each item's Err says
// why. The returned error is only for the call as a whole (a closed
// engine).
//
// An input overlapping its item's output is copied first, as in the single
// calls. In steady state (Dst with enough capacity, no
// errors) Batch allocates nothing.
func (e *Engine) Batch(items []BatchItem) (failed int, err error) {
	return e.batchWith(e.be, items)
}

// BatchContext is Batch bound to ctx: in daemon mode its deadline and
// cancellation end the wait for the daemon (the items then have no
// result and the error matches ctx's); in-process, ctx is checked before
// the batch starts, since a running call cannot be interrupted.
func (e *Engine) BatchContext(ctx context.Context, items []BatchItem) (failed int, err error) {
	be, err := withContext("batch", e.be, ctx)
	if err != nil {
		return 0, err
	}
	return e.batchWith(be, items)
}

func (e *Engine) batchWith(be backend.Backend, items []BatchItem) (failed int, err error) {
	const op = "batch"
	if err := e.check(op); err != nil {
		return 0, err
	}
	for len(items) > 0 {
		n := min(len(items), MaxBatch)
		f, err := e.batch(be, items[:n])
		failed += f
		if err != nil {
			return failed, err
		}
		items = items[n:]
	}
	return failed, nil
}

func (e *Engine) batch(be backend.Backend, items []BatchItem) (int, error) {
	bp := batchItemsPool.Get().(*[]backend.BatchItem)
	if cap(*bp) < len(items) {
		*bp = make([]backend.BatchItem, len(items))
	}
	bi := (*bp)[:len(items)]
	for i := range items {
		it := &items[i]
		b := &bi[i]
		*b = backend.BatchItem{Op: uint32(it.Op), In: it.In, In3: it.Nonce}
		it.Out, it.Err = it.Dst, nil
		k := it.Keyset
		if k != nil && !k.closed.Load() {
			b.Keyset = k.h
		}
		var need int
		switch it.Op {
		case OpAEADEncrypt, OpDAEADEncrypt:
			b.In2 = it.AAD
			need = len(it.In) + batchOverhead(k, it.Op)
		case OpAEADDecrypt, OpDAEADDecrypt:
			b.In2 = it.AAD
			need = len(it.In) - batchOverhead(k, it.Op)
		case OpAEADSealNonce:
			b.In2 = it.AAD
			need = len(it.In) + batchSizes(k).TagLen
		case OpAEADOpenNonce:
			b.In2 = it.AAD
			need = len(it.In) - batchSizes(k).TagLen
		case OpMACCompute:
			need = batchSizes(k).TagLen
			if k != nil && !k.raw {
				need += batchSizes(k).HeaderLen
			}
		case OpSigSign:
			need = batchSizes(k).MaxOutputLen
		case OpMACVerify, OpSigVerify:
			b.In2 = it.Tag
			continue // no output
		}
		head, out := sliceForAppend(it.Dst, max(need, 0))
		b.In = unaliased(out, b.In)
		b.In2 = unaliased(out, b.In2)
		b.In3 = unaliased(out, b.In3)
		b.Out = out
		it.Out = head // trimmed below
	}
	failed, st := be.Batch(bi)
	runtime.KeepAlive(items) // keeps the keysets alive through the call
	if st != backend.StatusOK {
		for i := range items {
			items[i].Out = items[i].Dst
		}
		clear(bi)
		batchItemsPool.Put(bp)
		return 0, newError("batch", st)
	}
	for i := range items {
		it := &items[i]
		b := &bi[i]
		if b.Status != backend.StatusOK {
			it.Out = it.Dst
			it.Err = newError(batchOpName(it.Op), b.Status)
			continue
		}
		if b.Out != nil {
			it.Out = it.Out[:len(it.Dst)+b.OutLen]
		}
	}
	clear(bi)
	batchItemsPool.Put(bp)
	return failed, nil
}

func batchSizes(k *Keyset) Sizes {
	if k == nil {
		return Sizes{}
	}
	return k.sizes
}

func batchOverhead(k *Keyset, op Op) int {
	if k == nil {
		return 0
	}
	s := k.sizes
	switch {
	case !k.raw:
		return s.Overhead
	case op == OpAEADEncrypt || op == OpAEADDecrypt:
		return s.NonceLen + s.TagLen
	default:
		return s.TagLen
	}
}

func batchOpName(op Op) string {
	switch op {
	case OpAEADEncrypt:
		return "batch.aead.seal"
	case OpAEADDecrypt:
		return "batch.aead.open"
	case OpDAEADEncrypt:
		return "batch.daead.seal"
	case OpDAEADDecrypt:
		return "batch.daead.open"
	case OpMACCompute:
		return "batch.mac.compute"
	case OpMACVerify:
		return "batch.mac.verify"
	case OpSigSign:
		return "batch.sig.sign"
	case OpSigVerify:
		return "batch.sig.verify"
	case OpAEADSealNonce:
		return "batch.aead.seal_nonce"
	case OpAEADOpenNonce:
		return "batch.aead.open_nonce"
	}
	return "batch"
}
