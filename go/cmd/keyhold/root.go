package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"keyhold.dev/keyhold"
)

// keysetTypes are the keyset types the CLI creates, by their command-line
// names.
var keysetTypes = []struct {
	name string
	alg  keyhold.Algorithm
}{
	{"aes256-gcm", keyhold.AES256GCM},
	{"chacha20-poly1305", keyhold.ChaCha20Poly1305},
	{"xchacha20-poly1305", keyhold.XChaCha20Poly1305},
	{"aes256-siv", keyhold.AES256SIV},
	{"hmac-sha256", keyhold.HMACSHA256},
	{"hmac-sha512", keyhold.HMACSHA512},
	{"ed25519", keyhold.Ed25519},
	{"ecdsa-p256", keyhold.ECDSAP256},
}

func typeByName(name string) (keyhold.Algorithm, bool) {
	for _, t := range keysetTypes {
		if t.name == strings.ToLower(name) {
			return t.alg, true
		}
	}
	return 0, false
}

// typeName is the CLI name of alg, or the engine's for algorithms the CLI
// does not create (a keyset made by a program may hold one).
func typeName(alg keyhold.Algorithm) string {
	for _, t := range keysetTypes {
		if t.alg == alg {
			return t.name
		}
	}
	return alg.String()
}

func typeNames() []string {
	var names []string
	for _, t := range keysetTypes {
		names = append(names, t.name)
	}
	return names
}

func typesOf(p keyhold.Primitive) []string {
	var names []string
	for _, t := range keysetTypes {
		if t.alg.Primitive() == p {
			names = append(names, t.name)
		}
	}
	return names
}

const rootLong = `keyhold manages encrypted keyset files and encrypts, decrypts, signs,
verifies and MACs data with them. The cryptography runs in the keyhold engine,
linked into this binary; keys never leave it in clear.

Keyset files are encrypted under a key-encryption key (KEK):
  --kek file:PATH      a mode-0600 file of 64 hex digits ('keyset create'
                       makes one with a fresh key if PATH does not exist)
  --kek env:NAME       64 hex digits in environment variable NAME (weakest)
  --kek pkcs11:module=PATH;token=LABEL;pin-env=NAME;key=LABEL
                       an AES-256 key inside a PKCS#11 token (an HSM),
                       user PIN read from variable NAME
Without --kek: the spec in $KEYHOLD_KEK, else file:$KEYHOLD_HOME/master.key
(KEYHOLD_HOME defaults to ~/.keyhold).

encrypt and decrypt with AEAD keysets stream inputs of any size; other
inputs (sign, verify, mac, aes256-siv) are read whole, at most 64 MiB.
Omitted -i / -o mean standard input / standard output.

` + exitHelp

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "keyhold",
		Short: "Encrypted keysets and cryptography from the command line",
		Long:  rootLong,
		Example: `  keyhold keyset create --type aes256-gcm --out app.keyset
  keyhold encrypt --keyset app.keyset -i report.pdf -o report.pdf.khe
  keyhold decrypt --keyset app.keyset -i report.pdf.khe -o report.pdf`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%s (see '%s --help')", err, c.CommandPath())
	})
	root.PersistentFlags().StringVar(&a.kekSpec, "kek", "",
		"key-encryption key spec: file:PATH, env:NAME or pkcs11:... (default: $KEYHOLD_KEK, else the master key in $KEYHOLD_HOME)")
	root.CompletionOptions.HiddenDefaultCmd = true
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) { a.command = cmd.Name() }

	root.AddCommand(
		a.keysetCommand(),
		a.encryptCommand(),
		a.decryptCommand(),
		a.signCommand(),
		a.verifyCommand(),
		a.macCommand(),
		a.versionCommand(),
		a.selftestCommand(),
		a.auditCommand(),
		a.configCommand(),
	)
	markRunErrors(root)
	return root
}

// markRunErrors makes every error a command body returns a cliError, so
// that run can tell them from the parser's errors (usage, exit 2) even if
// a body forgets to explain one.
func markRunErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ce *cliError
			if err == nil || errors.As(err, &ce) {
				return err
			}
			return &cliError{code: classify(err), msg: cmd.Name() + ": " + describe(err), err: err}
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// ioFlags adds -i and -o.
func ioFlags(fs *pflag.FlagSet, in, out *string, outWhat string) {
	fs.StringVarP(in, "in", "i", "", "input file (default: standard input)")
	if out != nil {
		fs.StringVarP(out, "out", "o", "", fmt.Sprintf("%s file, replaced atomically (default: standard output)", outWhat))
	}
}

func mustRequire(c *cobra.Command, names ...string) {
	for _, n := range names {
		if err := c.MarkFlagRequired(n); err != nil {
			panic(err) // a flag name typo: a programming error
		}
	}
}
