// Package remote is the pure-Go client of keyholdd, the keyhold daemon: a
// backend.Backend that carries every call over a Unix socket in the frames
// of docs/spec/protocol.md. It builds with CGO_ENABLED=0.
//
// A Client keeps a small pool of pipelined connections (requests from many
// goroutines share each connection and its writes), redials a broken one
// with exponential backoff, and reports transport failures with the
// Go-only statuses backend.StatusUnavailable, StatusDeadlineExceeded and
// StatusCanceled.
package remote

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"keyhold.dev/keyhold/internal/backend"
)

// Options configure a Client.
type Options struct {
	// Conns is the number of pooled connections (default 2).
	Conns int
	// Timeout bounds every request that has no earlier context deadline,
	// and each dial (default 30 s).
	Timeout time.Duration
}

// ParseEndpoint turns "unix:///run/keyholdd.sock", "unix:/path" or an
// absolute path into a socket path.
func ParseEndpoint(ep string) (string, error) {
	switch {
	case strings.HasPrefix(ep, "unix://"):
		ep = strings.TrimPrefix(ep, "unix://")
	case strings.HasPrefix(ep, "unix:"):
		ep = strings.TrimPrefix(ep, "unix:")
	case strings.HasPrefix(ep, "/"):
	default:
		return "", fmt.Errorf("endpoint %q: want unix:///path/to/socket", ep)
	}
	if !strings.HasPrefix(ep, "/") {
		return "", fmt.Errorf("endpoint %q: the socket path must be absolute", ep)
	}
	return ep, nil
}

type hello struct {
	abi      uint32
	maxFrame uint32
	maxItems uint32
	version  string
}

// Client is a connection pool to one daemon. It is safe for concurrent use.
type Client struct {
	path    string
	opts    Options
	conns   []atomic.Pointer[conn]
	rr      atomic.Uint32
	info    hello
	closed  atomic.Bool
	dialMu  sync.Mutex
	backoff time.Duration
	retryAt time.Time
	lastErr error

	keks    sync.Map // local KEK handles (see KEKOpen) -> kind
	nextKEK atomic.Uint64
	sizes   sync.Map // alg -> backend.AlgSizes
}

// Dial connects to the daemon at endpoint and checks that it speaks this
// protocol version.
func Dial(endpoint string, opts Options) (*Client, error) {
	path, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if opts.Conns <= 0 {
		opts.Conns = 2
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	cl := &Client{path: path, opts: opts, conns: make([]atomic.Pointer[conn], opts.Conns)}
	if _, err := cl.conn(0); err != nil {
		return nil, err
	}
	return cl, nil
}

// Close closes every connection; later calls fail with StatusUnavailable.
func (cl *Client) Close() {
	cl.closed.Store(true)
	for i := range cl.conns {
		if cn := cl.conns[i].Swap(nil); cn != nil {
			cn.close()
		}
	}
}

var errClientClosed = errors.New("keyhold remote: client closed")

// conn returns pooled connection i, dialling it if it is absent or broken.
func (cl *Client) conn(i int) (*conn, error) {
	if cn := cl.conns[i].Load(); cn != nil && !cn.broken() {
		return cn, nil
	}
	cl.dialMu.Lock()
	defer cl.dialMu.Unlock()
	if cl.closed.Load() {
		return nil, errClientClosed
	}
	if cn := cl.conns[i].Load(); cn != nil && !cn.broken() {
		return cn, nil
	}
	if now := time.Now(); now.Before(cl.retryAt) {
		return nil, cl.lastErr
	}
	cn, err := cl.dial()
	if err != nil {
		// Exponential backoff between 50 ms and 2 s: a daemon that is
		// restarting is not hammered, and callers fail fast meanwhile.
		cl.backoff = min(max(2*cl.backoff, 50*time.Millisecond), 2*time.Second)
		cl.retryAt = time.Now().Add(cl.backoff)
		cl.lastErr = err
		return nil, err
	}
	cl.backoff = 0
	cl.retryAt = time.Time{}
	if old := cl.conns[i].Swap(cn); old != nil {
		old.close()
	}
	return cn, nil
}

func (cl *Client) dial() (*conn, error) {
	d := net.Dialer{Timeout: cl.opts.Timeout}
	nc, err := d.Dial("unix", cl.path)
	if err != nil {
		return nil, fmt.Errorf("keyhold remote: dial %s: %w", cl.path, err)
	}
	cn := newConn(nc, cl.opts.Timeout)
	// hello: the daemon must speak protocol version 1.
	v := view{cl: cl, ctx: context.Background()}
	var out [256]byte
	val, n, st := v.callOn(cn, &item{op: opHello, arg: protocolVersion, arg2: protocolVersion, outCap: len(out)}, out[:])
	if st != backend.StatusOK || val != protocolVersion || n < 12 {
		cn.close()
		return nil, fmt.Errorf("keyhold remote: %s: the daemon does not speak protocol version %d (status %d)",
			cl.path, protocolVersion, st)
	}
	cl.info = hello{
		abi:      binary.BigEndian.Uint32(out[0:]),
		maxFrame: binary.BigEndian.Uint32(out[4:]),
		maxItems: binary.BigEndian.Uint32(out[8:]),
		version:  string(out[12:n]),
	}
	return cn, nil
}

// Backend returns the client as a backend.Backend whose calls wait without
// a deadline of their own (the connection's Timeout still applies).
func (cl *Client) Backend() backend.Backend { return view{cl: cl, ctx: context.Background()} }

// view is the Backend of a Client bound to one context.
type view struct {
	cl  *Client
	ctx context.Context
}

// WithContext returns the backend with calls bound to ctx: its deadline
// and cancellation end the wait for a response.
func (v view) WithContext(ctx context.Context) backend.Backend { return view{cl: v.cl, ctx: ctx} }

// call runs one item on a pooled connection. The item's output is copied
// into out; value is the item's value (a handle, a key id, or the size
// needed after StatusBufferTooSmall).
func (v view) call(it *item, out []byte) (value uint64, n int, st backend.Status) {
	if it.wireLen() > maxPayload+requestItemFixed || it.outCap > maxPayload {
		return 0, 0, backend.StatusTooLarge
	}
	i := int(v.cl.rr.Add(1)) % len(v.cl.conns)
	cn, err := v.cl.conn(i)
	if err != nil {
		return 0, 0, backend.StatusUnavailable
	}
	return v.callOn(cn, it, out)
}

func (v view) callOn(cn *conn, it *item, out []byte) (value uint64, n int, st backend.Status) {
	c := getCall()
	defer putCall(c)
	c.it = *it
	if err := cn.send(c); err != nil {
		if errors.Is(err, errTooLarge) {
			return 0, 0, backend.StatusTooLarge
		}
		return 0, 0, backend.StatusUnavailable
	}
	if st := cn.wait(v.ctx, c); st != backend.StatusOK {
		return 0, 0, st
	}
	h, _ := parseRespHeader(c.resp)
	if h.status != 0 {
		return 0, 0, backend.Status(h.status)
	}
	if h.count != 1 {
		cn.fail(errProtocol)
		return 0, 0, backend.StatusUnavailable
	}
	r, rest, ok := nextItem(c.resp[frameHeaderLen:])
	if !ok || len(rest) != 0 || len(r.out) > len(out) {
		cn.fail(errProtocol)
		return 0, 0, backend.StatusUnavailable
	}
	st = backend.Status(r.status)
	if st == backend.StatusBufferTooSmall {
		return r.value, int(r.value), st
	}
	if st != backend.StatusOK {
		return r.value, 0, st
	}
	return r.value, copy(out, r.out), st
}
