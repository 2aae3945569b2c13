package main

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"keyhold.dev/keyhold"
)

func (a *app) keysetCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "keyset",
		Short: "Create, inspect, rotate and export keyset files",
		Long: `Keyset files hold the keys of one algorithm: a primary key that encrypts,
signs or MACs, and older keys kept to decrypt and verify. The file is encrypted
under a KEK; its metadata (type, key ids, states, use counts) is readable
without it ('keyset info').`,
		Example: `  keyhold keyset create --type ed25519 --out signing.keyset
  keyhold keyset rotate signing.keyset
  keyhold keyset info signing.keyset`,
		// cobra shows help for a command group with no Run even when its
		// argument is a misspelt subcommand; that must be a usage error.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageErrorf("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
		},
	}
	c.AddCommand(
		a.keysetCreateCommand(),
		a.keysetRotateCommand(),
		a.keysetKeyCommand("disable", "Disable a key: nothing decrypts or verifies with it until 'enable'",
			"The primary key cannot be disabled: rotate first.", (*keyhold.Keyset).Disable),
		a.keysetKeyCommand("enable", "Enable a disabled key again", "", (*keyhold.Keyset).Enable),
		a.keysetKeyCommand("destroy", "Destroy a key's material for good (its id stays)",
			"Outputs made with a destroyed key can never be decrypted or verified again.\nThe primary key cannot be destroyed: rotate first.",
			(*keyhold.Keyset).DestroyKey),
		a.keysetInfoCommand(),
		a.keysetExportPublicCommand(),
		a.keysetExportWrappedCommand(),
		a.keysetImportWrappedCommand(),
	)
	return c
}

func (a *app) keysetCreateCommand() *cobra.Command {
	var typ, out string
	var exportable, force, asJSON bool
	c := &cobra.Command{
		Use:   "create --type TYPE --out FILE",
		Short: "Create a keyset file with one fresh primary key",
		Long: "Create a keyset file with one fresh primary key, encrypted under the KEK.\n\nTypes: " +
			strings.Join(typeNames(), ", ") + ".\n" +
			"A keyset is not exportable unless created with --exportable; only an exportable\n" +
			"keyset can be wrapped for another KEK ('keyset export-wrapped').",
		Example: `  keyhold keyset create --type aes256-gcm --out app.keyset
  keyhold keyset create --type ecdsa-p256 --out tls.keyset --kek file:/etc/keyhold/kek`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, ok := typeByName(typ)
			if !ok {
				return usageErrorf("--type %q: expected one of %s", typ, strings.Join(typeNames(), ", "))
			}
			return a.keysetCreate(alg, out, exportable, force, asJSON)
		},
	}
	c.Flags().StringVarP(&typ, "type", "t", "", "keyset type: "+strings.Join(typeNames(), ", "))
	c.Flags().StringVarP(&out, "out", "o", "", "keyset file to create")
	c.Flags().BoolVar(&exportable, "exportable", false, "allow 'keyset export-wrapped' (wrapping for another KEK)")
	c.Flags().BoolVar(&force, "force", false, "replace an existing file (its keys are lost)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	mustRequire(c, "type", "out")
	return c
}

func (a *app) keysetCreate(alg keyhold.Algorithm, out string, exportable, force, asJSON bool) error {
	e, err := a.openEngine()
	if err != nil {
		return err
	}
	// The output is checked first, so that a refused create makes no KEK.
	unlock, err := lockKeysetDir(out)
	if err != nil {
		return wrap(err, "keyset %s", out)
	}
	defer unlock()
	if err := statNew(out, force); err != nil {
		return err
	}
	kekPath, _ := a.kekFile()
	kekExisted := kekPath == "" || fileExists(kekPath)
	kek, err := a.openKEK(true)
	if err != nil {
		return err
	}
	// A KEK made just now must be backed up: without it the keyset is lost.
	kekCreated := ""
	if !kekExisted && fileExists(kekPath) {
		kekCreated = kekPath
	}
	var opts []keyhold.KeysetOption
	if exportable {
		opts = append(opts, keyhold.Exportable())
	}
	ks, err := e.NewKeyset(alg, opts...)
	if err != nil {
		return wrap(err, "creating a %s keyset", typeName(alg))
	}
	defer ks.Close()
	if err := ks.Save(out, kek); err != nil {
		return wrap(err, "saving keyset %s", out)
	}
	info, err := ks.Info()
	if err != nil {
		return wrap(err, "keyset %s", out)
	}
	if asJSON {
		m := map[string]any{
			"keyset": out, "type": typeName(alg), "algorithm": alg.String(),
			"primary": info.PrimaryKeyID, "exportable": exportable, "kek": kek.Kind(),
		}
		if kekCreated != "" {
			m["kek_created"] = kekCreated
		}
		return a.printJSON(m)
	}
	if kekCreated != "" {
		fmt.Fprintf(a.stdout, "created KEK file %s with a fresh key: back it up, no keyset under it opens without it\n", kekCreated)
	}
	fmt.Fprintf(a.stdout, "created %s: %s keyset, primary key %d, %s, under %s KEK\n",
		out, typeName(alg), info.PrimaryKeyID, exportableText(exportable), withArticle(kek.Kind()))
	return nil
}

func exportableText(b bool) string {
	if b {
		return "exportable"
	}
	return "not exportable"
}

func (a *app) keysetRotateCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "rotate FILE",
		Short: "Add a fresh key and make it the primary",
		Long: `Add a fresh key to the keyset and make it the primary: from now on it encrypts,
signs and MACs. Older keys stay enabled, so what they made still decrypts and
verifies.`,
		Example: `  keyhold keyset rotate app.keyset`,
		Args:    argsExactly("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			var id uint32
			err := a.useKeyset(path, true, func(ks *keyhold.Keyset) error {
				var err error
				id, err = ks.Rotate()
				return wrap(err, "rotate %s", path)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"keyset": path, "primary": id})
			}
			fmt.Fprintf(a.stdout, "rotated %s: new primary key %d\n", path, id)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// keysetKeyCommand builds disable, enable and destroy: one key, named by
// --key, changes state.
func (a *app) keysetKeyCommand(verb, short, more string, op func(*keyhold.Keyset, uint32) error) *cobra.Command {
	var key string
	var asJSON bool
	long := short + "."
	if more != "" {
		long += "\n" + more
	}
	c := &cobra.Command{
		Use:     verb + " FILE --key ID",
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  keyhold keyset %s app.keyset --key 2864434397", verb),
		Args:    argsExactly("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			id, err := parseKeyID(key)
			if err != nil {
				return err
			}
			err = a.useKeyset(path, true, func(ks *keyhold.Keyset) error {
				err := op(ks, id)
				switch {
				case err == nil:
					return nil
				case errors.Is(err, keyhold.ErrUnknownKey):
					return usageErrorf("%s: keyset %s has no key %d (see 'keyhold keyset info')", verb, path, id)
				case errors.Is(err, keyhold.ErrInvalidArgument):
					return usageErrorf("%s: key %d of %s cannot be %sd (the primary key cannot be disabled or destroyed: rotate first)",
						verb, id, path, strings.TrimSuffix(verb, "e"))
				}
				return wrap(err, "%s key %d of %s", verb, id, path)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"keyset": path, "key": id, "action": verb})
			}
			fmt.Fprintf(a.stdout, "%s: key %d %sd\n", path, id, strings.TrimSuffix(verb, "e"))
			return nil
		},
	}
	c.Flags().StringVar(&key, "key", "", "key id (as printed by 'keyset info')")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	mustRequire(c, "key")
	return c
}

func (a *app) keysetInfoCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "info FILE",
		Short: "Show a keyset file's metadata (no KEK needed)",
		Long: `Show a keyset file's metadata: format version, keyset id, type, whether it is
exportable, the kind of KEK it is encrypted under, and each key's id, state,
creation time and use count. This reads only the file's clear metadata: it
needs no KEK and proves nothing about the keys (loading the keyset, as every
other command does, authenticates it).`,
		Example: `  keyhold keyset info app.keyset
  keyhold keyset info app.keyset --json | jq '.keys[] | select(.primary)'`,
		Args: argsExactly("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := readKeysetInfo(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(infoJSON(args[0], info))
			}
			printInfo(a.stdout, args[0], info)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the metadata as JSON")
	return c
}

type keyJSON struct {
	ID       uint32 `json:"id"`
	Status   string `json:"status"`
	Primary  bool   `json:"primary"`
	Created  string `json:"created"`
	UseCount uint64 `json:"use_count"`
}

func infoJSON(path string, info keyhold.KeysetFileInfo) map[string]any {
	keys := make([]keyJSON, 0, len(info.Keys))
	for _, k := range info.Keys {
		keys = append(keys, keyJSON{
			ID: k.ID, Status: k.Status.String(), Primary: k.ID == info.Primary,
			Created: k.Created.UTC().Format(time.RFC3339), UseCount: k.UseCount,
		})
	}
	return map[string]any{
		"file":           path,
		"format_version": info.Version,
		"keyset_id":      info.KeysetID,
		"type":           typeName(info.Algorithm),
		"algorithm":      info.Algorithm.String(),
		"primitive":      info.Algorithm.Primitive().String(),
		"primary":        info.Primary,
		"exportable":     info.Exportable,
		"kek":            info.KEKKind,
		"keys":           keys,
	}
}

func printInfo(w io.Writer, path string, info keyhold.KeysetFileInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s\n", path)
	fmt.Fprintf(tw, "keyset id\t%s\n", info.KeysetID)
	fmt.Fprintf(tw, "format\tversion %d\n", info.Version)
	fmt.Fprintf(tw, "type\t%s (%s, %s)\n", typeName(info.Algorithm), info.Algorithm, info.Algorithm.Primitive())
	fmt.Fprintf(tw, "exportable\t%s\n", yesNo(info.Exportable))
	fmt.Fprintf(tw, "kek\t%s (not needed to read this metadata)\n", info.KEKKind)
	fmt.Fprintf(tw, "primary\t%d\n", info.Primary)
	tw.Flush()
	fmt.Fprintf(w, "keys (%d):\n", len(info.Keys))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tSTATUS\tCREATED\tUSES\t")
	for _, k := range info.Keys {
		mark := ""
		if k.ID == info.Primary {
			mark = "primary"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\n", k.ID, k.Status, k.Created.UTC().Format(time.RFC3339), k.UseCount, mark)
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) keysetExportPublicCommand() *cobra.Command {
	var format, out, key string
	c := &cobra.Command{
		Use:   "export-public FILE",
		Short: "Export a signature keyset's public key (PEM, DER or JWK)",
		Long: `Export the public key of a signature keyset's primary key (or of --key ID):
pem is a SubjectPublicKeyInfo "PUBLIC KEY" block, der the same
SubjectPublicKeyInfo as binary DER, jwk a JSON Web Key whose "kid" is the
keyhold key id. Secret keys never leave the engine.`,
		Example: `  keyhold keyset export-public signing.keyset -o signing.pub.pem
  keyhold keyset export-public signing.keyset --format der -o signing.pub.der
  keyhold keyset export-public signing.keyset --format jwk`,
		Args: argsExactly("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			format = strings.ToLower(format)
			if format != "pem" && format != "der" && format != "jwk" {
				return usageErrorf("--format %q: expected pem, der or jwk", format)
			}
			var id uint32
			if key != "" {
				var err error
				if id, err = parseKeyID(key); err != nil {
					return err
				}
			}
			alg, err := a.keysetAlgorithm(path)
			if err != nil {
				return err
			}
			if err := requirePrimitive("export-public", path, alg, keyhold.PrimitiveSignature); err != nil {
				return err
			}
			var data []byte
			err = a.useKeyset(path, false, func(ks *keyhold.Keyset) error {
				var err error
				data, err = exportPublic(ks, id, format)
				return err
			})
			if err != nil {
				return err
			}
			return a.writeOutput(output{path: out, what: "public key", perm: 0o644, binary: format == "der"}, data)
		},
	}
	c.Flags().StringVar(&format, "format", "pem", "pem, der or jwk")
	c.Flags().StringVarP(&out, "out", "o", "", "output file, replaced atomically (default: standard output)")
	c.Flags().StringVar(&key, "key", "", "key id (default: the primary)")
	return c
}

func exportPublic(ks *keyhold.Keyset, id uint32, format string) ([]byte, error) {
	if err := requirePrimitive("export-public", "", ks.Algorithm(), keyhold.PrimitiveSignature); err != nil {
		return nil, err
	}
	if id == 0 {
		info, err := ks.Info()
		if err != nil {
			return nil, wrap(err, "export-public")
		}
		id = info.PrimaryKeyID
	}
	der, err := ks.PublicKeyBytes(id, keyhold.PublicKeyDER)
	if err != nil {
		if errors.Is(err, keyhold.ErrUnknownKey) {
			return nil, usageErrorf("export-public: the keyset has no key %d", id)
		}
		return nil, wrap(err, "export-public: key %d", id)
	}
	switch format {
	case "pem":
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
	case "der":
		return der, nil
	}
	raw, err := ks.PublicKeyBytes(id, keyhold.PublicKeyRaw)
	if err != nil {
		return nil, wrap(err, "export-public: key %d", id)
	}
	jwk, err := publicJWK(ks.Algorithm(), raw, id)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(jwk, "", "  ")
	if err != nil {
		return nil, wrap(err, "export-public")
	}
	return append(b, '\n'), nil
}

// publicJWK is RFC 8037 (Ed25519, "OKP") or RFC 7518 (P-256, "EC").
func publicJWK(alg keyhold.Algorithm, raw []byte, id uint32) (map[string]string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	kid := strconv.FormatUint(uint64(id), 10)
	switch alg {
	case keyhold.Ed25519:
		if len(raw) != ed25519.PublicKeySize {
			break
		}
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(raw), "alg": "EdDSA", "use": "sig", "kid": kid}, nil
	case keyhold.ECDSAP256, keyhold.ECDSAP256P1363:
		if len(raw) != 65 || raw[0] != 4 {
			break
		}
		// Check the point is on the curve before publishing it.
		if _, err := ecdh.P256().NewPublicKey(raw); err != nil {
			break
		}
		return map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:]), "alg": "ES256", "use": "sig", "kid": kid}, nil
	}
	return nil, failf(exitError, "export-public: the engine returned an unexpected %s public key", alg)
}

func (a *app) keysetExportWrappedCommand() *cobra.Command {
	var to, out string
	c := &cobra.Command{
		Use:   "export-wrapped FILE --to-kek SPEC",
		Short: "Export an exportable keyset wrapped under another KEK",
		Long: `Export the keyset encrypted (wrapped) under another KEK, to move it to another
machine or HSM: import it there with 'keyset import-wrapped'. Only keysets
created with --exportable can be exported; the keys never appear in clear.`,
		Example: `  keyhold keyset export-wrapped app.keyset --to-kek file:/mnt/transfer.kek -o app.wrapped`,
		Args:    argsExactly("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if err := checkKEKSpec(to, "--to-kek"); err != nil {
				return err
			}
			a.keysetPath = path
			o := output{path: out, what: "wrapped keyset", perm: 0o600, binary: true}
			if err := a.checkOutput(o); err != nil {
				return err
			}
			if info, err := keyhold.ReadKeysetFileInfo(path); err == nil && !info.Exportable {
				return &cliError{code: exitPolicy, err: keyhold.ErrNotExportable,
					msg: "export-wrapped: keyset " + path + " is not exportable (only keysets created with --exportable are)"}
			}
			var blob []byte
			err := a.useKeyset(path, false, func(ks *keyhold.Keyset) error {
				// A new transfer KEK may be created: the receiver gets it
				// by a separate channel.
				toKEK, err := a.openKEKSpec(to, "--to-kek", true)
				if err != nil {
					return err
				}
				defer toKEK.Close()
				blob, err = ks.ExportWrapped(toKEK)
				return wrap(err, "export-wrapped %s", path)
			})
			if err != nil {
				return err
			}
			return a.writeOutput(o, blob)
		},
	}
	c.Flags().StringVar(&to, "to-kek", "", "KEK spec to wrap the keyset under")
	c.Flags().StringVarP(&out, "out", "o", "", "output file, replaced atomically (default: standard output)")
	mustRequire(c, "to-kek")
	return c
}

func (a *app) keysetImportWrappedCommand() *cobra.Command {
	var from, out string
	var force bool
	c := &cobra.Command{
		Use:   "import-wrapped BLOB --from-kek SPEC --out FILE",
		Short: "Import a keyset made by 'keyset export-wrapped'",
		Long: `Unwrap a keyset exported by 'keyset export-wrapped' with the KEK it was
wrapped under (--from-kek) and save it as a keyset file under this run's KEK
(--kek or the default).`,
		Example: `  keyhold keyset import-wrapped app.wrapped --from-kek file:/mnt/transfer.kek --out app.keyset`,
		Args:    argsExactly("BLOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKEKSpec(from, "--from-kek"); err != nil {
				return err
			}
			blob, err := a.readInput(args[0], "wrapped keyset", a.maxInput)
			if err != nil {
				return err
			}
			e, err := a.openEngine()
			if err != nil {
				return err
			}
			kek, err := a.openKEK(true)
			if err != nil {
				return err
			}
			fromKEK, err := a.openKEKSpec(from, "--from-kek", false)
			if err != nil {
				return err
			}
			defer fromKEK.Close()
			ks, err := e.ImportWrapped(blob, fromKEK)
			if err != nil {
				return loadError("wrapped keyset "+args[0], nil, nil, err)
			}
			defer ks.Close()
			unlock, err := lockKeysetDir(out)
			if err != nil {
				return wrap(err, "keyset %s", out)
			}
			defer unlock()
			if err := statNew(out, force); err != nil {
				return err
			}
			if err := ks.Save(out, kek); err != nil {
				return wrap(err, "saving keyset %s", out)
			}
			fmt.Fprintf(a.stdout, "imported %s: %s keyset under %s KEK\n", out, typeName(ks.Algorithm()), withArticle(kek.Kind()))
			return nil
		},
	}
	c.Flags().StringVar(&from, "from-kek", "", "KEK spec the keyset was wrapped under")
	c.Flags().StringVarP(&out, "out", "o", "", "keyset file to create")
	c.Flags().BoolVar(&force, "force", false, "replace an existing file (its keys are lost)")
	mustRequire(c, "from-kek", "out")
	return c
}

func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return wrap(err, "encoding JSON")
	}
	_, err = a.stdout.Write(append(b, '\n'))
	return wrap(err, "writing to standard output")
}
