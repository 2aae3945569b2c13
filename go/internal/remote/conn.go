package remote

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"keyhold.dev/keyhold/internal/backend"
)

// call is one request in flight. Calls are pooled: a response body is read
// into resp, whose capacity is kept for the next use.
type call struct {
	id    uint64
	done  chan struct{}       // one token per completion
	resp  []byte              // the response body (no length prefix)
	err   error               // a transport failure instead of a response
	it    item                // the request: one item ...
	batch []backend.BatchItem // ... or a batch (when non-nil)
}

// build appends c's request frame for request id to b.
func (c *call) build(b []byte, id uint64) []byte {
	start := len(b)
	if c.batch != nil {
		b = appendHeader(b, opBatch, id, len(c.batch))
		for i := range c.batch {
			bi := &c.batch[i]
			it := item{op: uint16(bi.Op), handle: uint64(bi.Keyset), in: bi.In, in2: bi.In2, in3: bi.In3, outCap: len(bi.Out)}
			b = appendItem(b, &it)
		}
	} else {
		b = appendHeader(b, c.it.op, id, 1)
		b = appendItem(b, &c.it)
	}
	finish(b, start)
	return b
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall() *call { return callPool.Get().(*call) }

func putCall(c *call) {
	clear(c.resp) // responses hold plaintext
	if cap(c.resp) > 1<<20 {
		c.resp = nil
	}
	c.resp = c.resp[:0]
	c.err = nil
	c.it = item{} // no reference to the caller's buffers stays in the pool
	c.batch = nil
	callPool.Put(c)
}

// errProtocol: the daemon sent something that is not a frame of this
// protocol; the connection is dropped.
var errProtocol = errors.New("keyhold remote: protocol violation by the daemon")

// conn is one pipelined connection: any number of requests in flight,
// answered in any order and matched by request id. Writers coalesce: the
// goroutine that finds no write in progress writes everything queued so
// far in one system call, so concurrent callers share writes.
type conn struct {
	nc      net.Conn
	timeout time.Duration

	mu      sync.Mutex
	wbuf    []byte // frames queued for writing
	spare   []byte // the other write buffer
	writing bool
	pending map[uint64]*call
	nextID  uint64
	err     error // set once: the connection is broken
}

func newConn(nc net.Conn, timeout time.Duration) *conn {
	cn := &conn{nc: nc, timeout: timeout, pending: make(map[uint64]*call)}
	go cn.readLoop()
	return cn
}

func (cn *conn) broken() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err != nil
}

// send queues c's request frame and writes queued frames if no other
// goroutine is writing.
func (cn *conn) send(c *call) error {
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return err
	}
	cn.nextID++
	c.id = cn.nextID
	start := len(cn.wbuf)
	cn.wbuf = c.build(cn.wbuf, c.id)
	if len(cn.wbuf)-start-lengthPrefixLen > maxFrameLen {
		clear(cn.wbuf[start:])
		cn.wbuf = cn.wbuf[:start]
		cn.mu.Unlock()
		return errTooLarge
	}
	if len(cn.pending) == 0 {
		// The reader may be blocked without a deadline: give it one now.
		_ = cn.nc.SetReadDeadline(time.Now().Add(cn.timeout))
	}
	cn.pending[c.id] = c
	if cn.writing {
		cn.mu.Unlock()
		return nil
	}
	cn.writing = true
	for len(cn.wbuf) > 0 {
		buf := cn.wbuf
		cn.wbuf = cn.spare[:0]
		cn.mu.Unlock()
		_ = cn.nc.SetWriteDeadline(time.Now().Add(cn.timeout))
		_, err := cn.nc.Write(buf)
		clear(buf) // requests hold plaintext
		cn.mu.Lock()
		cn.spare = buf[:0]
		if cap(cn.spare) > 4<<20 {
			cn.spare = nil
		}
		if err != nil {
			cn.writing = false
			cn.failLocked(fmt.Errorf("write: %w", err))
			cn.mu.Unlock()
			return nil // c was failed with the others
		}
	}
	cn.writing = false
	cn.mu.Unlock()
	return nil
}

var errTooLarge = errors.New("request too large for one frame")

// wait blocks until c completes or ctx ends. It returns the status to
// report for a transport failure or cancellation, StatusOK if c has its
// response.
func (cn *conn) wait(ctx context.Context, c *call) backend.Status {
	select {
	case <-c.done:
	case <-ctx.Done():
		cn.mu.Lock()
		_, still := cn.pending[c.id]
		delete(cn.pending, c.id)
		cn.mu.Unlock()
		if !still {
			<-c.done // the reader has it: let it finish before c is reused
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return backend.StatusDeadlineExceeded
		}
		return backend.StatusCanceled
	}
	if c.err != nil {
		return backend.StatusUnavailable
	}
	return backend.StatusOK
}

func (cn *conn) failLocked(err error) {
	if cn.err == nil {
		cn.err = err
		_ = cn.nc.Close()
	}
	for id, c := range cn.pending {
		delete(cn.pending, id)
		c.err = cn.err
		c.done <- struct{}{}
	}
}

func (cn *conn) fail(err error) {
	cn.mu.Lock()
	cn.failLocked(err)
	cn.mu.Unlock()
}

func (cn *conn) close() { cn.fail(net.ErrClosed) }

func (cn *conn) readLoop() {
	br := bufio.NewReaderSize(cn.nc, 64<<10)
	var hdr [lengthPrefixLen + frameHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			cn.fail(fmt.Errorf("read: %w", err))
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < frameHeaderLen || n > maxFrameLen {
			cn.fail(errProtocol)
			return
		}
		h, ok := parseRespHeader(hdr[lengthPrefixLen:])
		if !ok {
			cn.fail(errProtocol)
			return
		}
		cn.mu.Lock()
		c := cn.pending[h.id]
		delete(cn.pending, h.id)
		if len(cn.pending) > 0 {
			_ = cn.nc.SetReadDeadline(time.Now().Add(cn.timeout))
		} else {
			_ = cn.nc.SetReadDeadline(time.Time{})
		}
		cn.mu.Unlock()
		rest := int(n) - frameHeaderLen
		if c == nil {
			// A cancelled call, or an error frame for a request that did
			// not decode (request id 0): skip it.
			if _, err := br.Discard(rest); err != nil {
				cn.fail(fmt.Errorf("read: %w", err))
				return
			}
			if h.id == 0 && h.status != 0 {
				cn.fail(fmt.Errorf("%w: the daemon refused the stream (status %d)", errProtocol, h.status))
				return
			}
			continue
		}
		if cap(c.resp) < int(n) {
			c.resp = make([]byte, n)
		}
		c.resp = c.resp[:n]
		copy(c.resp, hdr[lengthPrefixLen:])
		if _, err := io.ReadFull(br, c.resp[frameHeaderLen:]); err != nil {
			c.err = fmt.Errorf("read: %w", err)
			c.done <- struct{}{}
			cn.fail(c.err)
			return
		}
		c.done <- struct{}{}
	}
}
