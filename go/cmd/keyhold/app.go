package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"keyhold.dev/keyhold"
)

// app is one run of the CLI: its streams, its global flags and the engine
// and KEK it opened (lazily: `keyset info` needs neither, `version` no KEK).
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	kekSpec    string // --kek; "" means the engine's DefaultKEK
	keysetPath string // the keyset file the command uses, never to be overwritten by an output

	engine *keyhold.Engine
	kek    *keyhold.KEK
	// command is the running subcommand's name; the data commands follow
	// KEYHOLD_ENDPOINT to a daemon (see daemonEndpoint).
	command string

	// Tests: stand-in for the terminal check and the input limit.
	forceTTY func(any) bool
	maxInput int64
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, maxInput: maxInput}
}

// run executes one command line and returns the process exit code. Every
// failure is reported as exactly one line on stderr.
func (a *app) run(args []string) int {
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code, msg := exitUsage, describe(err)
	var ce *cliError
	if errors.As(err, &ce) {
		code, msg = ce.code, ce.msg
	} else if cmd != nil {
		// Anything not from a command body comes from the parser: an
		// unknown command or flag, a missing flag or argument.
		msg += " (see '" + cmd.CommandPath() + " --help')"
	}
	fmt.Fprintln(a.stderr, "keyhold: "+strings.Join(strings.Fields(msg), " "))
	return code
}

func (a *app) close() {
	if a.kek != nil {
		a.kek.Close()
		a.kek = nil
	}
	if a.engine != nil {
		a.engine.Close()
		a.engine = nil
	}
}

// daemonCommands use a keyset without changing its file: with
// KEYHOLD_ENDPOINT set they ask the daemon to do the work, and the CLI
// reads no secret. Managing keyset files (create, rotate, ...) needs the
// KEK and always runs in-process; the daemon picks changes up on SIGHUP.
var daemonCommands = map[string]bool{"encrypt": true, "decrypt": true, "sign": true, "verify": true, "mac": true}

// daemonEndpoint is the daemon this command uses, "" for in-process.
func (a *app) daemonEndpoint() string {
	if !daemonCommands[a.command] {
		return ""
	}
	return os.Getenv(keyhold.EnvEndpoint)
}

// openEngine opens the engine: in-process (running the power-on
// self-test), or for a data command with KEYHOLD_ENDPOINT set, the
// daemon's.
func (a *app) openEngine() (*keyhold.Engine, error) {
	if ep := a.daemonEndpoint(); ep != "" && a.engine == nil {
		e, err := keyhold.Open(keyhold.WithEndpoint(ep))
		if errors.Is(err, keyhold.ErrPolicyDenied) {
			return nil, &cliError{code: exitPolicy, err: err, msg: "the keyholdd daemon at " + keyhold.EnvEndpoint + " does not serve this user"}
		}
		if err != nil {
			return nil, &cliError{code: exitIO, err: err, msg: "the keyholdd daemon at " + keyhold.EnvEndpoint + " is unavailable: " + describe(err)}
		}
		a.engine = e
		return e, nil
	}
	if a.engine != nil {
		return a.engine, nil
	}
	e, err := keyhold.Open(keyhold.WithInProcess())
	if err != nil {
		if errors.Is(err, keyhold.ErrSelfTestFailed) {
			return nil, failf(exitError, "the engine's power-on self-test failed: it refuses every operation")
		}
		var ke *keyhold.Error
		if errors.As(err, &ke) && ke.Detail != "" {
			// The engine names the variable or config-file key at fault.
			return nil, failf(exitError, "opening the engine: invalid configuration: %s", ke.Detail)
		}
		if errors.Is(err, keyhold.ErrInvalidArgument) {
			return nil, failf(exitError, "opening the engine: invalid configuration (check the KEYHOLD_* environment variables)")
		}
		return nil, wrap(err, "opening the engine")
	}
	a.engine = e
	return e, nil
}

// openKEK opens this run's KEK: --kek, else the engine's default
// ($KEYHOLD_KEK, else the master key under KEYHOLD_HOME).
//
// A file KEK that does not exist is created with a fresh key by the
// engine. Only commands that make a new keyset file (create=true) may let
// that happen: for any other command a missing KEK file means a wrong path
// or home, and a fresh key would turn "no KEK" into a confusing
// authentication failure (and leave a stray key file behind).
func (a *app) openKEK(create bool) (*keyhold.KEK, error) {
	if a.kek != nil {
		return a.kek, nil
	}
	e, err := a.openEngine()
	if err != nil {
		return nil, err
	}
	if !create {
		if path, from := a.kekFile(); path != "" {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, &cliError{code: exitKEK, err: err, msg: fmt.Sprintf(
					"KEK unavailable: the KEK file %s (%s) does not exist; name the keyset's KEK with --kek or KEYHOLD_KEK", path, from)}
			}
		}
	}
	var k *keyhold.KEK
	if a.kekSpec != "" {
		k, err = a.openKEKSpec(a.kekSpec, "--kek", true)
	} else {
		k, err = e.DefaultKEK()
		spec, what := os.Getenv(keyhold.EnvKEK), "the default KEK"
		if spec != "" {
			what = keyhold.EnvKEK + "=" + kekScheme(spec)
		}
		err = kekError(err, what, spec)
	}
	if err != nil {
		return nil, err
	}
	a.kek = k
	return k, nil
}

// kekFile is the file this run's KEK would be read from, and where that
// choice came from; "" for a KEK that is not a file. It follows the
// engine's resolution of the default KEK (kh_kek_open, "default").
func (a *app) kekFile() (path, from string) {
	spec, from := a.kekSpec, "--kek"
	if spec == "" {
		spec, from = os.Getenv("KEYHOLD_KEK"), "KEYHOLD_KEK"
	}
	if spec == "" {
		home := os.Getenv("KEYHOLD_HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", ""
			}
			home = filepath.Join(h, ".keyhold")
		}
		return filepath.Join(home, "master.key"), "the default KEK"
	}
	if p, ok := strings.CutPrefix(spec, "file:"); ok {
		return p, from
	}
	return "", ""
}

// openKEKSpec opens a KEK named on the command line by flag; the caller
// closes it. create says whether a missing file KEK may be created (see
// openKEK).
func (a *app) openKEKSpec(spec, flag string, create bool) (*keyhold.KEK, error) {
	if err := checkKEKSpec(spec, flag); err != nil {
		return nil, err
	}
	if p, ok := strings.CutPrefix(spec, "file:"); ok && !create {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, &cliError{code: exitKEK, err: err, msg: fmt.Sprintf("KEK unavailable: %s: the KEK file %s does not exist", flag, p)}
		}
	}
	e, err := a.openEngine()
	if err != nil {
		return nil, err
	}
	k, err := e.OpenKEK(spec)
	return k, kekError(err, flag+" "+kekScheme(spec), spec)
}

// kekError reports a KEK that cannot be opened as exit 6 whatever the
// cause (unreadable or malformed key file, unset variable, absent token,
// wrong PIN): for the user it is one problem, the KEK is not available. (A
// spec with an unknown scheme was refused before, as a usage error.)
func kekError(err error, what, spec string) error {
	if err == nil {
		return nil
	}
	why := describe(err)
	switch {
	case errors.Is(err, keyhold.ErrInvalidArgument):
		why = "malformed KEK spec or key (a key is 64 hex digits)"
	case errors.Is(err, keyhold.ErrKEKUnavailable):
		if name, ok := strings.CutPrefix(spec, "env:"); ok && os.Getenv(name) == "" {
			why = "environment variable " + name + " is not set"
		} else if strings.HasPrefix(spec, "pkcs11:") {
			why = "the token is absent, or the PIN is wrong or not set"
		}
	}
	return &cliError{code: exitKEK, msg: "KEK unavailable: " + what + ": " + why, err: err}
}

var kekSchemes = []string{"file:", "env:", "pkcs11:"}

// checkKEKSpec catches a misspelt spec as a usage error before the engine
// sees it.
func checkKEKSpec(spec, flag string) error {
	for _, s := range kekSchemes {
		if strings.HasPrefix(spec, s) && len(spec) > len(s) {
			return nil
		}
	}
	return usageErrorf("%s %q: expected file:PATH, env:NAME or pkcs11:module=PATH;token=LABEL;pin-env=NAME;key=LABEL", flag, spec)
}

// kekScheme names a spec by its scheme only: a spec holds no secret, but
// a PKCS#11 one is long, and the scheme is what the user needs to see.
func kekScheme(spec string) string {
	if i := strings.IndexByte(spec, ':'); i > 0 {
		if spec[:i] == "file" || spec[:i] == "env" {
			return spec
		}
		return spec[:i]
	}
	return spec
}

// useKeyset loads the keyset file at path, runs fn on it and, when save
// is set and fn succeeded, saves it back so that use counts and lifecycle
// changes persist. Saving commands hold the keyset directory's lock from
// load to save (see lockKeysetDir).
func (a *app) useKeyset(path string, save bool, fn func(*keyhold.Keyset) error) error {
	e, err := a.openEngine()
	if err != nil {
		return err
	}
	if a.daemonEndpoint() != "" {
		return a.useDaemonKeyset(e, path, fn)
	}
	kek, err := a.openKEK(false)
	if err != nil {
		return err
	}
	if save {
		unlock, err := lockKeysetDir(path)
		if err != nil {
			return wrap(err, "keyset %s", path)
		}
		defer unlock()
	}
	ks, err := e.LoadKeyset(path, kek)
	if err != nil {
		var info *keyhold.KeysetFileInfo
		if i, ierr := keyhold.ReadKeysetFileInfo(path); ierr == nil {
			info = &i
		}
		return loadError("keyset "+path, kek, info, err)
	}
	defer ks.Close()
	if err := fn(ks); err != nil {
		return err
	}
	if save {
		if err := ks.Save(path, kek); err != nil {
			return wrap(err, "saving keyset %s", path)
		}
	}
	return nil
}

// useDaemonKeyset runs fn on the daemon's copy of the keyset that the file
// at path names (its keyset id, read from the public metadata). The daemon
// keeps the use counts; nothing is written here.
func (a *app) useDaemonKeyset(e *keyhold.Engine, path string, fn func(*keyhold.Keyset) error) error {
	kek, err := e.OpenKEK("default")
	if err != nil {
		return wrap(err, "daemon KEK")
	}
	defer kek.Close()
	ks, err := e.LoadKeyset(path, kek)
	switch {
	case errors.Is(err, keyhold.ErrNotFound) && fileExists(path):
		return &cliError{code: exitPolicy, err: err, msg: "keyset " + path + ": the daemon has not loaded this keyset (start keyholdd with --keyset " + path + ")"}
	case errors.Is(err, keyhold.ErrPolicyDenied):
		return &cliError{code: exitPolicy, err: err, msg: "keyset " + path + ": the daemon does not allow this user to use it"}
	case errors.Is(err, keyhold.ErrUnavailable):
		return &cliError{code: exitIO, err: err, msg: "the keyholdd daemon is unavailable: " + describe(err)}
	case err != nil:
		return loadError("keyset "+path, nil, nil, err)
	}
	defer ks.Close()
	if err := fn(ks); err != nil {
		if errors.Is(err, keyhold.ErrUnavailable) {
			return &cliError{code: exitIO, err: err, msg: "the keyholdd daemon is unavailable: " + describe(err)}
		}
		if errors.Is(err, keyhold.ErrIO) {
			return &cliError{code: exitIO, err: err, msg: "keyset " + path + ": the daemon could not record use counts in the keyset file (its user needs write access to the file and its directory)"}
		}
		return err
	}
	return nil
}

// loadError explains a keyset file (or wrapped export) that did not open.
//
// The engine reports a wrong KEK and an altered sealed part of the file
// alike, as an authentication failure: the file holds nothing that tells
// them apart (docs/spec/keyset.md). In practice the KEK is the usual
// cause, so that is exit 6, with a message that names both; a file whose
// structure is damaged (truncated, bad magic: ErrMalformed) is exit 3.
func loadError(what string, kek *keyhold.KEK, info *keyhold.KeysetFileInfo, err error) error {
	code := classify(err)
	msg := what + ": " + describe(err)
	switch {
	case errors.Is(err, keyhold.ErrAuthFailed):
		code = exitKEK
		msg = what + " does not open with this KEK: the KEK is wrong, or the file was altered"
		if info != nil && kek != nil && info.KEKKind != "" && info.KEKKind != kek.Kind() {
			msg = fmt.Sprintf("%s was saved under %s KEK, not the %s KEK of this run; name it with --kek or KEYHOLD_KEK",
				what, withArticle(info.KEKKind), kek.Kind())
		}
	case code == exitAuth:
		msg += " (the file is damaged)"
	case errors.Is(err, keyhold.ErrInsecureFile):
		msg += " (it must not be open to group or others: chmod 600)"
	}
	return &cliError{code: code, msg: msg, err: err}
}

// keysetAlgorithm reads the algorithm from a keyset file's metadata,
// without the KEK, so that a command can refuse a keyset of the wrong type
// before it reads its input. The metadata is not authenticated until the
// keyset is loaded, which checks again. It records path as the command's
// keyset, which no output may replace.
func (a *app) keysetAlgorithm(path string) (keyhold.Algorithm, error) {
	a.keysetPath = path
	info, err := readKeysetInfo(path)
	if err != nil {
		return 0, err
	}
	return info.Algorithm, nil
}

// readKeysetInfo is keyhold.ReadKeysetFileInfo with the errors explained.
func readKeysetInfo(path string) (keyhold.KeysetFileInfo, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return keyhold.KeysetFileInfo{}, failf(exitIO, "keyset %s is a directory", path)
	}
	info, err := keyhold.ReadKeysetFileInfo(path)
	if err != nil {
		return info, loadError("keyset "+path, nil, nil, err)
	}
	return info, nil
}

// requirePrimitive refuses a keyset whose algorithm is not one of ps with
// exit 7.
func requirePrimitive(cmd, path string, alg keyhold.Algorithm, ps ...keyhold.Primitive) error {
	for _, p := range ps {
		if alg.Primitive() == p {
			return nil
		}
	}
	var want []string
	for _, p := range ps {
		want = append(want, typesOf(p)...)
	}
	return &cliError{code: exitWrongType, err: keyhold.ErrWrongPrimitive, msg: fmt.Sprintf(
		"%s: keyset %s is %s (%s); %s needs a keyset of type %s",
		cmd, path, typeName(alg), alg.Primitive(), cmd, strings.Join(want, ", "))}
}

// parseKeyID accepts a key id in decimal (as `keyset info` prints it) or
// in hexadecimal with 0x.
func parseKeyID(s string) (uint32, error) {
	id, err := strconv.ParseUint(s, 0, 32)
	if err != nil || id == 0 {
		return 0, usageErrorf("--key %q: expected a key id as printed by 'keyhold keyset info'", s)
	}
	return uint32(id), nil
}

// argsExactly is cobra.ExactArgs with a message that names the argument.
func argsExactly(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErrorf("%s needs %d argument(s): %s (got %d; see '%s --help')",
				cmd.CommandPath(), len(names), strings.Join(names, " "), len(args), cmd.CommandPath())
		}
		return nil
	}
}

// statNew refuses to replace an existing file unless force is set: a
// keyset file replaced by another loses its keys for good.
func statNew(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return failf(exitIO, "%s exists; use --force to replace it (the keys it holds would be lost)", path)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// withArticle is "a file", "an env", "a pkcs11".
func withArticle(kind string) string {
	if strings.HasPrefix(kind, "e") {
		return "an " + kind
	}
	return "a " + kind
}
