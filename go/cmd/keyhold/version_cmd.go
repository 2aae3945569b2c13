package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"keyhold.dev/keyhold"
)

// runtimeInfoer is the part of *keyhold.Engine that reports the engine's
// per-process backend choices (kh_runtime_info). It is asserted rather
// than called so that the CLI builds against a Go package without it and
// reports the choices as soon as the package has it.
type runtimeInfoer interface{ RuntimeInfo() string }

// engineRuntimeInfo returns the engine's runtime JSON, or nil.
func engineRuntimeInfo(e *keyhold.Engine) json.RawMessage {
	ri, ok := any(e).(runtimeInfoer)
	if !ok {
		return nil
	}
	s := ri.RuntimeInfo()
	if !json.Valid([]byte(s)) {
		return nil
	}
	return json.RawMessage(s)
}

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Show the version, ABI, build and runtime information",
		Long: `Show the engine's version and C ABI version, its build description (source
revision, compiler flags, linked OpenSSL, libsodium and intel-ipsec-mb versions
and their fingerprint) and this process's runtime (Go version, platform, the
backends chosen for AES-256-GCM and ChaCha20-Poly1305). Opening the engine runs
its power-on self-test.`,
		Example: `  keyhold version
  keyhold version --json | jq .build.source_revision`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.openEngine()
			if err != nil {
				return err
			}
			build := json.RawMessage(e.BuildInfo())
			if !json.Valid(build) {
				return failf(exitError, "version: the engine's build information is not valid JSON")
			}
			rt := map[string]any{
				"go":      runtime.Version(),
				"os":      runtime.GOOS,
				"arch":    runtime.GOARCH,
				"cpus":    runtime.NumCPU(),
				"backend": e.Backend(),
			}
			if ri := engineRuntimeInfo(e); ri != nil {
				rt["engine"] = ri
			}
			if bi, ok := debug.ReadBuildInfo(); ok {
				rt["go_build"] = goBuildSettings(bi)
			}
			if asJSON {
				return a.printJSON(map[string]any{
					"version":             e.Version(),
					"abi_version":         keyhold.ABIVersion,
					"binding_abi_version": keyhold.ABIVersion,
					"build":               build,
					"runtime":             rt,
				})
			}
			var b map[string]any
			_ = json.Unmarshal(build, &b)
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "keyhold\t%s (C ABI %d)\n", e.Version(), keyhold.ABIVersion)
			for _, k := range sortedKeys(b) {
				if k == "version" || k == "abi_version" {
					continue
				}
				v := b[k]
				if fp, ok := v.(map[string]any); ok && k == "crypto_fingerprint" {
					v = "sha256 " + jsonText(fp["sha256"]) // the per-file hashes are in --json
				}
				fmt.Fprintf(tw, "%s\t%s\n", strings.ReplaceAll(k, "_", " "), strings.TrimSpace(jsonText(v)))
			}
			fmt.Fprintf(tw, "go\t%s %s/%s, in-process engine (%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, e.Backend())
			if ri := engineRuntimeInfo(e); ri != nil {
				fmt.Fprintf(tw, "runtime\t%s\n", ri)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print everything as one JSON object")
	return c
}

// goBuildSettings are the Go toolchain's build settings (-trimpath,
// CGO_ENABLED, GOAMD64, ...): part of what identifies a build.
func goBuildSettings(bi *debug.BuildInfo) map[string]string {
	m := map[string]string{"go_version": bi.GoVersion, "module": bi.Main.Path}
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	return m
}

func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (a *app) selftestCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "selftest",
		Short: "Run the engine's power-on self-test and report the backends it chose",
		Long: `Open the engine, which runs its power-on self-test (known-answer tests for every
algorithm; on failure every operation is refused), report which backend each
accelerated primitive uses in this process (intel-ipsec-mb or OpenSSL, and
why), then make one round trip with a fresh in-memory keyset of each type the
engine's policy enables (others are reported skipped). No keyset file and no KEK
are touched. Exit code 0 means everything passed.`,
		Example: `  keyhold selftest
  KEYHOLD_AESGCM_BACKEND=openssl keyhold selftest --json`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.openEngine()
			if err != nil {
				return err
			}
			st, err := e.Stats()
			if err != nil {
				return wrap(err, "selftest")
			}
			if !st.SelfTestPassed {
				return failf(exitError, "selftest: the engine reports that its power-on self-test did not pass")
			}
			ri := engineRuntimeInfo(e)
			results := make(map[string]string, len(keysetTypes))
			failed := 0
			for _, t := range keysetTypes {
				if err := roundTrip(e, t.alg); errors.Is(err, keyhold.ErrPolicyDenied) {
					// The engine's policy disables this type (AES-SIV on a
					// fresh install): nothing to test, nothing failed.
					results[t.name] = "skipped: disabled by policy"
				} else if err != nil {
					results[t.name] = "FAILED: " + describe(err)
					failed++
				} else {
					results[t.name] = "ok"
				}
			}
			if asJSON {
				out := map[string]any{
					"version":          e.Version(),
					"self_test_passed": st.SelfTestPassed,
					"round_trips":      results,
					"secure_memory": map[string]any{
						"bytes_locked": st.SecureBytesLocked, "bytes_total": st.SecureBytesTotal,
						"mlock_failures": st.MlockFailures,
					},
				}
				if ri != nil {
					out["backends"] = ri
				}
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				a.printSelftest(e, st, ri, results)
			}
			if failed > 0 {
				return failf(exitError, "selftest: %d of %d round trips failed", failed, len(keysetTypes))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

func (a *app) printSelftest(e *keyhold.Engine, st keyhold.Stats, ri json.RawMessage, results map[string]string) {
	w := a.stdout
	fmt.Fprintf(w, "keyhold %s: power-on self-test passed (known-answer tests of every algorithm)\n", e.Version())
	if ri == nil {
		fmt.Fprintln(w, "backends: not reported (this build's Go API does not expose the engine's runtime information)")
	} else {
		fmt.Fprintln(w, "backends:")
		var m map[string]any
		_ = json.Unmarshal(ri, &m)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range sortedKeys(m) {
			if v := jsonText(m[k]); v != "" {
				fmt.Fprintf(tw, "  %s\t%s\n", k, v)
			}
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "round trips (fresh in-memory keyset of each type):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range keysetTypes {
		fmt.Fprintf(tw, "  %s\t%s\n", t.name, results[t.name])
	}
	tw.Flush()
	fmt.Fprintf(w, "guarded memory: %d of %d bytes locked, %d mlock failures\n",
		st.SecureBytesLocked, st.SecureBytesTotal, st.MlockFailures)
}

// roundTrip makes one output with a fresh keyset of alg and checks it,
// including that a flipped bit is refused.
func roundTrip(e *keyhold.Engine, alg keyhold.Algorithm) error {
	ks, err := e.NewKeyset(alg)
	if err != nil {
		return err
	}
	defer ks.Close()
	msg := []byte("keyhold selftest")
	var out []byte
	var check func([]byte) error
	switch alg.Primitive() {
	case keyhold.PrimitiveAEAD:
		aead, err := ks.AEAD()
		if err != nil {
			return err
		}
		if out, err = aead.Encrypt(msg, nil); err != nil {
			return err
		}
		check = func(b []byte) error {
			pt, err := aead.Decrypt(b, nil)
			if err == nil && !bytes.Equal(pt, msg) {
				err = errors.New("decryption differs")
			}
			return err
		}
	case keyhold.PrimitiveDAEAD:
		d, err := ks.DAEAD()
		if err != nil {
			return err
		}
		if out, err = d.Encrypt(msg, nil); err != nil {
			return err
		}
		check = func(b []byte) error {
			pt, err := d.Decrypt(b, nil)
			if err == nil && !bytes.Equal(pt, msg) {
				err = errors.New("decryption differs")
			}
			return err
		}
	case keyhold.PrimitiveMAC:
		m, err := ks.MAC()
		if err != nil {
			return err
		}
		if out, err = m.Compute(msg); err != nil {
			return err
		}
		check = func(b []byte) error { return m.Verify(msg, b) }
	case keyhold.PrimitiveSignature:
		s, err := ks.Signer()
		if err != nil {
			return err
		}
		if out, err = s.SignWithHeader(msg); err != nil {
			return err
		}
		v, err := ks.Verifier()
		if err != nil {
			return err
		}
		check = func(b []byte) error { return v.Verify(msg, b) }
	default:
		return fmt.Errorf("no round trip for %s", alg)
	}
	if err := check(out); err != nil {
		return err
	}
	out[len(out)-1] ^= 1
	if err := check(out); !errors.Is(err, keyhold.ErrAuthFailed) {
		return errors.New("a flipped bit was not refused")
	}
	return nil
}
