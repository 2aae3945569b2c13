package keyhold

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"keyhold.dev/keyhold/internal/backend"
	"keyhold.dev/keyhold/internal/remote"
)

// EnvEndpoint is the environment variable that selects the daemon mode:
// the address of a keyholdd Unix socket, "unix:///run/keyholdd/keyholdd.sock".
// When it is set, Open connects to that daemon with the pure-Go client
// (no cgo needed) instead of starting an in-process engine; the API and
// its errors are the same. An unreachable daemon is an error: Open never
// falls back to keeping keys in the service's own process.
const EnvEndpoint = "KEYHOLD_ENDPOINT"

// EnvTimeout is the environment variable with the daemon client's default
// timeout per request (a Go duration, "30s" if unset). A call with a
// context deadline uses the earlier of the two.
const EnvTimeout = "KEYHOLD_TIMEOUT"

// ABIVersion is the major version of the C ABI this package was written
// for. Open refuses a native library that reports another one.
const ABIVersion = backend.ABIVersion

// Option configures Open.
type Option func(*config)

type config struct {
	endpoint  string
	inProcess bool
	ignoreEnv bool
	timeout   time.Duration
	conns     int
	logger    *slog.Logger
	backend   backend.Backend // tests: a backend to use instead of the in-process one
}

// WithLogger sends the engine's log records to l: engine open (with the
// configuration file in force) and close at Info, refusals by policy at
// Warn. Records carry operation names, algorithm names and status codes,
// never key material, plaintext or any value derived from them. Without
// it the engine logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithEndpoint selects the daemon mode with the given keyholdd address
// ("unix:///path/to/socket"); it overrides KEYHOLD_ENDPOINT.
func WithEndpoint(addr string) Option {
	return func(c *config) { c.endpoint = addr }
}

// WithTimeout sets the daemon client's timeout per request (default 30 s,
// or KEYHOLD_TIMEOUT). It has no effect in-process.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithConnections sets how many connections the daemon client keeps to the
// daemon (default 2); requests are pipelined on each.
func WithConnections(n int) Option {
	return func(c *config) { c.conns = n }
}

// WithInProcess selects the in-process engine even if KEYHOLD_ENDPOINT is
// set. In-process is the default.
func WithInProcess() Option {
	return func(c *config) { c.inProcess = true }
}

// WithoutEnvironment makes Open ignore the KEYHOLD_* environment variables.
func WithoutEnvironment() Option {
	return func(c *config) { c.ignoreEnv = true }
}

// remoteClients: one connection pool per daemon address and options,
// shared by every Engine of the process (like net/http's transport): an
// Engine is a namespace in the daemon, not a connection, and keysets of a
// closed Engine must still get ErrClosed from the daemon.
var (
	remoteMu      sync.Mutex
	remoteClients = map[string]*remote.Client{}
)

func remoteClient(endpoint string, opts remote.Options) (*remote.Client, error) {
	key := fmt.Sprintf("%s|%d|%d", endpoint, opts.Conns, opts.Timeout)
	remoteMu.Lock()
	defer remoteMu.Unlock()
	if c, ok := remoteClients[key]; ok {
		return c, nil
	}
	c, err := remote.Dial(endpoint, opts)
	if err != nil {
		return nil, err
	}
	remoteClients[key] = c
	return c, nil
}

// Engine is one keyhold engine: the owner of keysets. An Engine is safe for
// concurrent use. Close it when done; closing it closes every keyset it
// owns (their later use gives errors matching ErrClosed).
type Engine struct {
	be      backend.Backend
	h       backend.Handle
	client  *remote.Client // daemon mode only
	closed  atomic.Bool
	sizes   map[Algorithm]Sizes // read-only after Open
	log     *slog.Logger
	cleanup runtime.Cleanup
}

// closer is the data a cleanup needs; it must not reference the object
// being cleaned up.
type closer struct {
	be     backend.Backend
	h      backend.Handle
	engine bool
}

func (c closer) close() {
	if c.engine {
		c.be.EngineClose(c.h)
	} else {
		c.be.HandleClose(c.h)
	}
}

// Open starts an engine. The engine runs the power-on self-test once per
// process; if it failed, Open returns an error matching ErrSelfTestFailed.
//
// Options override the environment: KEYHOLD_ENDPOINT (see EnvEndpoint) is
// read unless WithoutEnvironment or WithInProcess is given.
func Open(opts ...Option) (*Engine, error) {
	const op = "engine.open"
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.endpoint == "" && !cfg.ignoreEnv && !cfg.inProcess {
		cfg.endpoint = os.Getenv(EnvEndpoint)
	}
	if cfg.timeout == 0 && !cfg.ignoreEnv {
		if v := os.Getenv(EnvTimeout); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("keyhold: %s: %s=%q: not a positive duration: %w", op, EnvTimeout, v, ErrInvalidArgument)
			}
			cfg.timeout = d
		}
	}
	be := cfg.backend
	var client *remote.Client
	if be == nil && cfg.endpoint != "" && !cfg.inProcess {
		var err error
		client, err = remoteClient(cfg.endpoint, remote.Options{Conns: cfg.conns, Timeout: cfg.timeout})
		if err != nil {
			return nil, fmt.Errorf("keyhold: %s: %w: %w", op, ErrUnavailable, err)
		}
		be = client.Backend()
		if v := be.ABIVersion(); v != ABIVersion {
			return nil, fmt.Errorf("keyhold: %s: the daemon's engine has ABI version %d, this package %d: %w",
				op, v, ABIVersion, ErrABIMismatch)
		}
	}
	if be == nil {
		var err error
		if be, err = inProcessBackend(); err != nil {
			return nil, err
		}
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, st, detail := be.EngineOpen()
	if st != backend.StatusOK {
		err := &Error{Op: op, Code: Status(st), Detail: detail}
		log.Error("keyhold: engine open failed", "status", Status(st).Name(), "detail", detail)
		return nil, err
	}
	e := &Engine{be: be, h: h, client: client, log: log, sizes: make(map[Algorithm]Sizes, len(algorithms))}
	if c, err := e.Config(); err == nil {
		log.Info("keyhold: engine open", "backend", be.Name(), "version", be.Version(),
			"config_file", c.File, "settings_from_file", c.count("file"), "settings_from_env", c.count("env"))
	}
	for _, a := range algorithms {
		s, st := be.AlgSizes(uint32(a))
		if st != backend.StatusOK {
			continue // not built into this library; operations will say so
		}
		e.sizes[a] = Sizes{
			KeyLen:       int(s.KeyLen),
			NonceLen:     int(s.NonceLen),
			TagLen:       int(s.TagLen),
			HeaderLen:    int(s.HeaderLen),
			Overhead:     int(s.Overhead),
			MaxOutputLen: int(s.MaxOutputLen),
			PublicKeyLen: int(s.PublicKeyLen),
		}
	}
	e.cleanup = runtime.AddCleanup(e, closer.close, closer{be: be, h: h, engine: true})
	return e, nil
}

// Close closes the engine and every keyset it owns. It is idempotent: a
// second Close returns nil and does nothing.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	e.cleanup.Stop()
	st := e.be.EngineClose(e.h)
	e.log.Info("keyhold: engine close")
	if st == backend.StatusStaleHandle || st == backend.StatusEngineClosed {
		st = backend.StatusOK
	}
	if e.client != nil && st == backend.StatusUnavailable {
		// The daemon drops this engine's keysets with it; a daemon that
		// is gone has nothing left to drop.
		st = backend.StatusOK
	}
	return newError("engine.close", st)
}

func (e *Engine) check(op string) error {
	if e == nil || e.closed.Load() {
		return &Error{Op: op, Code: StatusEngineClosed}
	}
	return nil
}

// Backend names the backend serving this engine: "native" in-process,
// "remote" for a keyholdd daemon.
func (e *Engine) Backend() string { return e.be.Name() }

// Version returns the engine library's version, "MAJOR.MINOR.PATCH".
func (e *Engine) Version() string { return e.be.Version() }

// BuildInfo returns the engine's JSON build description (version, ABI,
// source revision, compiler flags, linked crypto library versions). It
// holds no secrets.
func (e *Engine) BuildInfo() string { return e.be.BuildInfo() }

// RuntimeInfo returns the engine's JSON runtime description: which backend
// each accelerated primitive runs on (for example intel-ipsec-mb or
// OpenSSL for AES-256-GCM) and why an accelerated one was disabled, if it
// was. It contains no secrets.
func (e *Engine) RuntimeInfo() string { return e.be.RuntimeInfo() }

// Sizes returns the encoding sizes of alg as reported by the engine, or an
// error matching ErrUnsupported.
func (e *Engine) Sizes(alg Algorithm) (Sizes, error) {
	s, ok := e.sizes[alg]
	if !ok {
		return Sizes{}, &Error{Op: "engine.sizes", Code: StatusUnsupported}
	}
	return s, nil
}

// Stats are an engine's counters. None has secret content.
type Stats struct {
	LiveHandles       uint64 // keysets (and other objects) open in this engine
	SecureBytesUsed   uint64 // guarded-arena bytes holding key material
	SecureBytesTotal  uint64 // guarded-arena bytes mapped (process-wide)
	SecureBytesLocked uint64 // of those, locked in RAM
	MlockFailures     uint64 // arenas that could not be locked (RLIMIT_MEMLOCK)
	SelfTestPassed    bool   // the power-on self-test passed
}

// Stats returns the engine's counters.
func (e *Engine) Stats() (Stats, error) {
	const op = "engine.stats"
	if err := e.check(op); err != nil {
		return Stats{}, err
	}
	s, st := e.be.EngineStats(e.h)
	runtime.KeepAlive(e)
	if st != backend.StatusOK {
		return Stats{}, newError(op, st)
	}
	return Stats(s), nil
}

// failed is newError for operations the policy may refuse: a refusal is
// logged (operation and status only) before it is returned.
func (e *Engine) failed(op string, st backend.Status) error {
	err := newError(op, st)
	if st == backend.StatusPolicyDenied && e != nil {
		e.log.Warn("keyhold: refused by policy", "op", op, "status", Status(st).Name())
	}
	return err
}
