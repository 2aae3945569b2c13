package keyhold

import (
	"encoding/hex"
	"math"
	"runtime"
	"time"

	"keyhold.dev/keyhold/internal/backend"
)

// KEK is a key-encryption key: what a stored keyset is encrypted under.
// Its key material never reaches Go: a file or environment KEK is read by
// the engine itself into guarded memory, and a PKCS#11 KEK never leaves its
// token. A KEK is safe for concurrent use; Close it when done (a keyset
// saved under it keeps what it needs to go on writing its file).
type KEK struct {
	owned
	e    *Engine
	kind string
}

// EnvKEK is the environment variable DefaultKEK reads: a KEK spec.
const EnvKEK = "KEYHOLD_KEK"

// EnvHome is the environment variable naming keyhold's home directory
// (default ~/.keyhold), where the default file KEK lives (master.key).
const EnvHome = "KEYHOLD_HOME"

// OpenKEK opens the KEK named by spec:
//
//   - "file:PATH": a file holding 64 hex digits (and optionally a newline),
//     created with a fresh random key, mode 0600, if it does not exist. A
//     file readable or writable by group or others is refused
//     (ErrInsecureFile).
//   - "env:NAME": 64 hex digits in environment variable NAME. Anything
//     that can read the process environment can read the key: the
//     weakest option.
//   - "pkcs11:module=PATH;token=LABEL;pin-env=NAME;key=LABEL": a
//     non-extractable AES-256 key in a PKCS#11 token (created if missing),
//     the module at absolute PATH, the user PIN in variable NAME. The
//     token wraps and unwraps keyset data keys itself.
//
// A malformed spec or key gives ErrInvalidArgument; an unset variable, an
// absent token or a wrong PIN gives ErrKEKUnavailable.
func (e *Engine) OpenKEK(spec string) (*KEK, error) {
	const op = "kek.open"
	if err := e.check(op); err != nil {
		return nil, err
	}
	h, st := e.be.KEKOpen(e.h, spec)
	runtime.KeepAlive(e)
	if st != backend.StatusOK {
		return nil, newError(op, st)
	}
	kind, st := e.be.KEKKind(h)
	if st != backend.StatusOK {
		e.be.HandleClose(h)
		return nil, newError(op, st)
	}
	k := &KEK{owned: owned{be: e.be, h: h}, e: e, kind: kekKindName(kind)}
	k.cleanup = runtime.AddCleanup(k, closer.close, closer{be: e.be, h: h})
	return k, nil
}

// DefaultKEK opens the KEK named by $KEYHOLD_KEK if it is set and not
// empty, else "file:$KEYHOLD_HOME/master.key" (KEYHOLD_HOME defaults to
// ~/.keyhold, created 0700 if missing; master.key is created on first use).
// The engine resolves the default, so C programs get the same one.
func (e *Engine) DefaultKEK() (*KEK, error) { return e.OpenKEK("default") }

func kekKindName(kind uint32) string {
	switch kind {
	case backend.KEKFile:
		return "file"
	case backend.KEKEnv:
		return "env"
	case backend.KEKPKCS11:
		return "pkcs11"
	}
	return ""
}

// Kind returns "file", "env" or "pkcs11".
func (k *KEK) Kind() string {
	if k == nil {
		return ""
	}
	return k.kind
}

// Close releases the KEK. It is idempotent: a second Close returns nil.
func (k *KEK) Close() error {
	if k == nil {
		return nil
	}
	return k.release("kek.close")
}

func (k *KEK) handle(op string) (backend.Handle, error) {
	if k == nil {
		return 0, &Error{Op: op, Code: StatusInvalidArgument}
	}
	return k.live(op)
}

// Exportable makes a keyset that may leave its KEK: ExportWrapped works,
// and Save may store it under another KEK than the one it is bound to.
// Keysets are not exportable by default (ErrNotExportable).
func Exportable() KeysetOption { return func(c *keysetConfig) { c.flags |= backend.KeysetExportable } }

// adoptKeyset wraps a keyset handle the engine created from storage, whose
// algorithm Go learns from the engine.
func (e *Engine) adoptKeyset(op string, h backend.Handle, st backend.Status) (*Keyset, error) {
	if st != backend.StatusOK {
		return nil, e.failed(op, st)
	}
	info, st := e.be.KeysetInfo(h)
	if st != backend.StatusOK {
		e.be.HandleClose(h)
		return nil, newError(op, st)
	}
	return e.newKeyset(op, h, st, Algorithm(info.Alg), info.Flags&backend.KeysetRaw != 0)
}

// LoadKeyset reads the keyset file at path (docs/spec/keyset.md) and
// decrypts it with kek. The keyset is bound to kek and to path: use counts
// are written back to path ahead of use (so a restart never reuses them),
// and a key added by Rotate is written there before its first use.
//
// A missing file gives ErrNotFound (which also matches fs.ErrNotExist), a
// file open to group or others ErrInsecureFile, a wrong KEK or an altered
// file ErrAuthFailed, a truncated or malformed one ErrMalformed.
func (e *Engine) LoadKeyset(path string, kek *KEK) (*Keyset, error) {
	const op = "keyset.load"
	if err := e.check(op); err != nil {
		return nil, err
	}
	kh, err := kek.handle(op)
	if err != nil {
		return nil, err
	}
	h, st := e.be.KeysetLoadFile(e.h, kh, path)
	runtime.KeepAlive(e)
	runtime.KeepAlive(kek)
	return e.adoptKeyset(op, h, st)
}

// Save writes the keyset, encrypted under kek, to path: atomically and
// durably (a temporary file in the same directory, fsync, rename, fsync of
// the directory), mode 0600. A crash leaves the old file or the new one,
// never a mix. Save also makes path the keyset's home (see LoadKeyset).
//
// The first Save or LoadKeyset binds a keyset to its KEK; saving under
// another KEK is an export and gives ErrNotExportable unless the keyset
// was made Exportable. Raw keysets cannot be stored (ErrUnsupported).
func (k *Keyset) Save(path string, kek *KEK) error {
	const op = "keyset.save"
	h, err := k.handle(op)
	if err != nil {
		return err
	}
	kh, err := kek.handle(op)
	if err != nil {
		return err
	}
	st := k.be.KeysetSaveFile(h, kh, path)
	runtime.KeepAlive(k)
	runtime.KeepAlive(kek)
	return k.e.failed(op, st)
}

// ExportWrapped returns the keyset encrypted under to, in the keyset file
// format, for another service that holds that KEK (ImportWrapped, or
// LoadKeyset once written to a 0600 file). It gives ErrNotExportable
// unless the keyset was made Exportable.
func (k *Keyset) ExportWrapped(to *KEK) ([]byte, error) {
	const op = "keyset.export_wrapped"
	h, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	kh, err := to.handle(op)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(k)
	defer runtime.KeepAlive(to)
	need, st := k.be.KeysetExportWrapped(h, kh, nil)
	if st != backend.StatusBufferTooSmall {
		if st == backend.StatusOK {
			st = backend.StatusInternal // an export is never empty
		}
		return nil, k.e.failed(op, st)
	}
	out, st := growCall(nil, need, func(b []byte) (int, backend.Status) {
		return k.be.KeysetExportWrapped(h, kh, b)
	})
	if st != backend.StatusOK {
		return nil, k.e.failed(op, st)
	}
	return out, nil
}

// ImportWrapped decrypts an export of ExportWrapped (or the bytes of a
// keyset file) with kek. The keyset is bound to kek and has no home file
// until it is saved. Errors as LoadKeyset.
func (e *Engine) ImportWrapped(blob []byte, kek *KEK) (*Keyset, error) {
	const op = "keyset.import_wrapped"
	if err := e.check(op); err != nil {
		return nil, err
	}
	kh, err := kek.handle(op)
	if err != nil {
		return nil, err
	}
	h, st := e.be.KeysetImportWrapped(e.h, kh, blob)
	runtime.KeepAlive(e)
	runtime.KeepAlive(kek)
	return e.adoptKeyset(op, h, st)
}

// KeysetFileInfo is the metadata of a keyset file, readable without its
// KEK. It is authenticated only when the keyset is loaded: until then it
// is what the file says.
type KeysetFileInfo struct {
	Version    int       // format version (1)
	KeysetID   string    // hex, fixed when the keyset was generated
	Algorithm  Algorithm // the keyset's algorithm
	Primary    uint32    // the primary key's id
	Exportable bool      // made with Exportable
	KEKKind    string    // the kind of KEK that wrote the file: "file", "env" or "pkcs11"
	Keys       []KeyFileInfo
}

// KeyFileInfo describes one key of a keyset file.
type KeyFileInfo struct {
	ID      uint32
	Status  KeyStatus
	Created time.Time // UTC, whole seconds
	// UseCount is at least the number of uses made before the file was
	// written; a running service writes it ahead of use.
	UseCount uint64
}

// ReadKeysetFileInfo reads the metadata of the keyset file at path without
// a KEK or an engine. Errors as LoadKeyset, without the KEK's.
func ReadKeysetFileInfo(path string) (KeysetFileInfo, error) {
	const op = "keyset.file_info"
	be, err := inProcessBackend()
	if err != nil {
		return KeysetFileInfo{}, err
	}
	var keys []backend.KeyFileInfo
	for attempt := 0; ; attempt++ {
		info, n, st := be.KeysetFileInfo(path, keys)
		// The file may be replaced between the two calls; try again.
		if st == backend.StatusBufferTooSmall && n > len(keys) && attempt < 3 {
			keys = make([]backend.KeyFileInfo, n)
			continue
		}
		if st != backend.StatusOK {
			return KeysetFileInfo{}, newError(op, st)
		}
		out := KeysetFileInfo{
			Version:    int(info.Version),
			KeysetID:   hex.EncodeToString(info.KeysetID[:]),
			Algorithm:  Algorithm(info.Alg),
			Primary:    info.PrimaryKeyID,
			Exportable: info.Flags&backend.KeysetExportable != 0,
			KEKKind:    kekKindName(info.KEKKind),
			Keys:       make([]KeyFileInfo, 0, n),
		}
		for _, k := range keys[:n] {
			created := k.Created
			if created > math.MaxInt64 {
				created = math.MaxInt64
			}
			out.Keys = append(out.Keys, KeyFileInfo{
				ID:       k.KeyID,
				Status:   KeyStatus(k.Status),
				Created:  time.Unix(int64(created), 0).UTC(),
				UseCount: k.UseCount,
			})
		}
		return out, nil
	}
}
