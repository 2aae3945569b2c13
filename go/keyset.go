package keyhold

import (
	"crypto"
	"crypto/ecdh"
	"crypto/x509"
	"runtime"
	"strconv"
	"sync/atomic"

	"keyhold.dev/keyhold/internal/backend"
)

// Keyset is a handle to a set of keys of one algorithm held inside the
// engine: one primary key that encrypts, signs or MACs, and older keys kept
// for decrypting and verifying. Secret key material never leaves the
// engine.
//
// A Keyset is safe for concurrent use. Close it when done; using it after
// Close (or after its Engine's Close) returns an error matching ErrClosed,
// never a crash.
type Keyset struct {
	owned
	e     *Engine
	alg   Algorithm
	raw   bool
	sizes Sizes
}

// owned is a native handle owned by a Go object (a Keyset, a KEK): closed
// once, by Close or, as a safety net, by a cleanup when the object is
// collected; refused with ErrClosed after Close.
type owned struct {
	be      backend.Backend
	h       backend.Handle
	closed  atomic.Bool
	cleanup runtime.Cleanup
}

// release closes the handle once; later calls return nil. A handle already
// released with its engine counts as closed.
func (o *owned) release(op string) error {
	if !o.closed.CompareAndSwap(false, true) {
		return nil
	}
	o.cleanup.Stop()
	st := o.be.HandleClose(o.h)
	if st == backend.StatusStaleHandle || st == backend.StatusEngineClosed {
		st = backend.StatusOK
	}
	return newError(op, st)
}

// live returns the handle, or an error matching ErrClosed once released.
// The engine itself also refuses a closed handle, so a release racing with
// a call is safe either way.
func (o *owned) live(op string) (backend.Handle, error) {
	if o.closed.Load() {
		return 0, &Error{Op: op, Code: StatusStaleHandle}
	}
	return o.h, nil
}

// KeysetOption configures NewKeyset.
type KeysetOption func(*keysetConfig)

type keysetConfig struct {
	flags uint32 // KH_KEYSET_*
}

// Raw makes a raw keyset: a single key whose outputs carry no keyhold
// header, for interoperability (for example with Go's cipher.AEAD via
// NewCipherAEAD). Raw keysets cannot rotate.
func Raw() KeysetOption { return func(c *keysetConfig) { c.flags |= backend.KeysetRaw } }

func (e *Engine) newKeyset(op string, h backend.Handle, st backend.Status, alg Algorithm, raw bool) (*Keyset, error) {
	if st != backend.StatusOK {
		return nil, e.failed(op, st)
	}
	k := &Keyset{owned: owned{be: e.be, h: h}, e: e, alg: alg, raw: raw, sizes: e.sizes[alg]}
	k.cleanup = runtime.AddCleanup(k, closer.close, closer{be: e.be, h: h})
	return k, nil
}

// NewKeyset generates a keyset of alg with one fresh random primary key.
func (e *Engine) NewKeyset(alg Algorithm, opts ...KeysetOption) (*Keyset, error) {
	const op = "keyset.generate"
	if err := e.check(op); err != nil {
		return nil, err
	}
	var cfg keysetConfig
	for _, o := range opts {
		o(&cfg)
	}
	h, st := e.be.KeysetGenerate(e.h, uint32(alg), cfg.flags)
	runtime.KeepAlive(e)
	return e.newKeyset(op, h, st, alg, cfg.flags&backend.KeysetRaw != 0)
}

// ImportRawKey makes a raw keyset from caller key bytes: an AEAD, DAEAD,
// MAC or HKDF key, an Ed25519 32-byte seed, a P-256 32-byte big-endian
// scalar, or an X25519 32-byte private key. The engine copies key; wiping
// the caller's copy is the caller's business. Raw imports exist for
// interoperability and test vectors; managed keysets come from NewKeyset.
func (e *Engine) ImportRawKey(alg Algorithm, key []byte) (*Keyset, error) {
	const op = "keyset.import_raw"
	if err := e.check(op); err != nil {
		return nil, err
	}
	h, st := e.be.KeysetImportRaw(e.h, uint32(alg), key)
	runtime.KeepAlive(e)
	return e.newKeyset(op, h, st, alg, true)
}

// ImportPublicKey makes a verify-only raw keyset from a public key:
// Ed25519 as 32 raw bytes or SubjectPublicKeyInfo DER; P-256 as a 65-byte
// SEC1 uncompressed point or SubjectPublicKeyInfo DER.
func (e *Engine) ImportPublicKey(alg Algorithm, pub []byte) (*Keyset, error) {
	const op = "keyset.import_public"
	if err := e.check(op); err != nil {
		return nil, err
	}
	h, st := e.be.KeysetImportPublic(e.h, uint32(alg), pub)
	runtime.KeepAlive(e)
	return e.newKeyset(op, h, st, alg, true)
}

// ImportCryptoPublicKey is ImportPublicKey for an ed25519.PublicKey or an
// *ecdsa.PublicKey (encoded with x509.MarshalPKIXPublicKey).
func (e *Engine) ImportCryptoPublicKey(alg Algorithm, pub crypto.PublicKey) (*Keyset, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, &Error{Op: "keyset.import_public", Code: StatusInvalidArgument}
	}
	return e.ImportPublicKey(alg, der)
}

// Close releases the keyset. It is idempotent: a second Close returns nil.
func (k *Keyset) Close() error {
	if k == nil {
		return nil
	}
	return k.release("keyset.close")
}

// handle returns the native handle, or an error matching ErrClosed once
// Close was called.
func (k *Keyset) handle(op string) (backend.Handle, error) {
	if k == nil {
		return 0, &Error{Op: op, Code: StatusInvalidArgument}
	}
	return k.live(op)
}

// Algorithm returns the keyset's algorithm.
func (k *Keyset) Algorithm() Algorithm { return k.alg }

// IsRaw reports whether the keyset is raw (outputs without keyhold header).
func (k *Keyset) IsRaw() bool { return k.raw }

// Engine returns the engine that owns the keyset.
func (k *Keyset) Engine() *Engine { return k.e }

// Rotate adds a fresh key, makes it the primary and returns its id. Older
// keys stay enabled for decrypting and verifying. Raw keysets give
// ErrUnsupported.
func (k *Keyset) Rotate() (uint32, error) {
	const op = "keyset.rotate"
	h, err := k.handle(op)
	if err != nil {
		return 0, err
	}
	id, st := k.be.KeysetRotate(h)
	runtime.KeepAlive(k)
	return id, k.e.failed(op, st)
}

// SetPrimary makes the enabled key keyID the primary.
func (k *Keyset) SetPrimary(keyID uint32) error {
	return k.keyOp("keyset.set_primary", keyID, backend.Backend.KeysetSetPrimary)
}

// Disable disables key keyID: every operation with it is refused
// (ErrKeyDisabled) until Enable. The primary cannot be disabled
// (ErrInvalidArgument).
func (k *Keyset) Disable(keyID uint32) error {
	return k.keyOp("keyset.disable", keyID, backend.Backend.KeysetDisable)
}

// Enable re-enables a disabled key.
func (k *Keyset) Enable(keyID uint32) error {
	return k.keyOp("keyset.enable", keyID, backend.Backend.KeysetEnable)
}

// DestroyKey wipes a non-primary key's material. Its id stays, so outputs
// made with it fail with ErrKeyDestroyed. Irreversible.
func (k *Keyset) DestroyKey(keyID uint32) error {
	return k.keyOp("keyset.destroy_key", keyID, backend.Backend.KeysetDestroyKey)
}

func (k *Keyset) keyOp(op string, keyID uint32, f func(backend.Backend, backend.Handle, uint32) backend.Status) error {
	h, err := k.handle(op)
	if err != nil {
		return err
	}
	st := f(k.be, h, keyID)
	runtime.KeepAlive(k)
	return newError(op, st)
}

// KeyStatus is the state of one key in a keyset.
type KeyStatus uint32

// The key states.
const (
	KeyEnabled   KeyStatus = 1
	KeyDisabled  KeyStatus = 2
	KeyDestroyed KeyStatus = 3
)

func (s KeyStatus) String() string {
	switch s {
	case KeyEnabled:
		return "enabled"
	case KeyDisabled:
		return "disabled"
	case KeyDestroyed:
		return "destroyed"
	}
	return "KeyStatus(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// KeyInfo describes one key. It holds no secret.
type KeyInfo struct {
	ID       uint32
	Status   KeyStatus
	Primary  bool
	UseCount uint64 // encryptions, signatures or MACs made with this key
}

// KeysetInfo describes a keyset. It holds no secret.
type KeysetInfo struct {
	Algorithm    Algorithm
	Raw          bool
	Exportable   bool
	PrimaryKeyID uint32
	Keys         []KeyInfo // in creation order, including disabled and destroyed keys
}

// Info describes the keyset and each of its keys.
func (k *Keyset) Info() (KeysetInfo, error) {
	const op = "keyset.info"
	h, err := k.handle(op)
	if err != nil {
		return KeysetInfo{}, err
	}
	defer runtime.KeepAlive(k)
	ki, st := k.be.KeysetInfo(h)
	if st != backend.StatusOK {
		return KeysetInfo{}, newError(op, st)
	}
	info := KeysetInfo{
		Algorithm:    Algorithm(ki.Alg),
		Raw:          ki.Flags&backend.KeysetRaw != 0,
		Exportable:   ki.Flags&backend.KeysetExportable != 0,
		PrimaryKeyID: ki.PrimaryKeyID,
		Keys:         make([]KeyInfo, 0, ki.KeyCount),
	}
	for i := uint32(0); i < ki.KeyCount; i++ {
		one, st := k.be.KeysetKeyInfo(h, i)
		if st != backend.StatusOK {
			return KeysetInfo{}, newError(op, st)
		}
		info.Keys = append(info.Keys, KeyInfo{
			ID:       one.KeyID,
			Status:   KeyStatus(one.Status),
			Primary:  one.IsPrimary,
			UseCount: one.UseCount,
		})
	}
	return info, nil
}

// PublicKeyFormat selects an encoding for PublicKeyBytes.
type PublicKeyFormat uint32

// The public-key encodings.
const (
	// PublicKeyRaw is 32 bytes for Ed25519 and X25519 and the 65-byte SEC1
	// uncompressed point for P-256.
	PublicKeyRaw = PublicKeyFormat(backend.PubKeyRaw)
	// PublicKeyDER is SubjectPublicKeyInfo DER (signature algorithms).
	PublicKeyDER = PublicKeyFormat(backend.PubKeyDER)
)

// PublicKeyBytes exports the public key of keyID (0 = the primary) of a
// signature or X25519 keyset. Symmetric keysets give ErrWrongPrimitive:
// secret keys never leave the engine.
func (k *Keyset) PublicKeyBytes(keyID uint32, format PublicKeyFormat) ([]byte, error) {
	const op = "keyset.public_key"
	h, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 128)
	out, st := growCall(out[:0], len(out), func(b []byte) (int, backend.Status) {
		return k.be.KeysetPublicKey(h, keyID, uint32(format), b)
	})
	runtime.KeepAlive(k)
	if st != backend.StatusOK {
		return nil, newError(op, st)
	}
	return out, nil
}

// PublicKey returns the primary key's public key as a Go value:
// ed25519.PublicKey, *ecdsa.PublicKey or, for X25519, *ecdh.PublicKey.
func (k *Keyset) PublicKey() (crypto.PublicKey, error) {
	return k.publicKey(0)
}

func (k *Keyset) publicKey(keyID uint32) (crypto.PublicKey, error) {
	const op = "keyset.public_key"
	switch k.alg.Primitive() {
	case PrimitiveSignature:
		der, err := k.PublicKeyBytes(keyID, PublicKeyDER)
		if err != nil {
			return nil, err
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, &Error{Op: op, Code: StatusMalformed}
		}
		return pub, nil
	case PrimitiveKeyAgreement:
		raw, err := k.PublicKeyBytes(keyID, PublicKeyRaw)
		if err != nil {
			return nil, err
		}
		pub, err := ecdh.X25519().NewPublicKey(raw)
		if err != nil {
			return nil, &Error{Op: op, Code: StatusMalformed}
		}
		return pub, nil
	}
	return nil, &Error{Op: op, Code: StatusWrongPrimitive}
}

// primitive checks that the keyset offers p.
func (k *Keyset) primitive(op string, p Primitive) error {
	if k == nil {
		return &Error{Op: op, Code: StatusInvalidArgument}
	}
	if k.alg.Primitive() != p {
		return &Error{Op: op, Code: StatusWrongPrimitive}
	}
	return nil
}
