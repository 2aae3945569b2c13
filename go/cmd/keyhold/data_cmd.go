package main

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"keyhold.dev/keyhold"
)

func (a *app) encryptCommand() *cobra.Command {
	var ksPath, ad, in, out string
	c := &cobra.Command{
		Use:   "encrypt --keyset FILE [-i IN] [-o OUT]",
		Short: "Encrypt with an AEAD or AES-SIV keyset",
		Long: `Encrypt the input with the keyset's primary key. The ciphertext names its key, so
it still decrypts after the keyset is rotated. --ad binds associated data: the
same text must be given to decrypt. AEAD keysets (aes256-gcm,
chacha20-poly1305, xchacha20-poly1305) use a fresh random nonce each time;
aes256-siv is deterministic (equal inputs give equal ciphertexts).

AEAD keysets encrypt any size as a stream (docs/spec/stream.md): 64 KiB
segments, each authenticated, so memory use stays small and a truncated,
reordered or altered file is detected. aes256-siv is one-shot: at most 64 MiB.

The keyset file is saved afterwards: its use count, which the usage limit is
checked against, persists. An output file appears only once it is complete
(written to a temporary file, synced, renamed).`,
		Example: `  keyhold encrypt --keyset app.keyset -i report.pdf -o report.pdf.khe
  echo -n 'card 4111' | keyhold encrypt --keyset app.keyset --ad customer:42 > card.khe`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.encrypt(ksPath, []byte(ad), in, out)
		},
	}
	c.Flags().StringVarP(&ksPath, "keyset", "k", "", "keyset file")
	c.Flags().StringVar(&ad, "ad", "", "associated data (authenticated, not encrypted)")
	ioFlags(c.Flags(), &in, &out, "ciphertext")
	mustRequire(c, "keyset")
	return c
}

func (a *app) encrypt(ksPath string, ad []byte, in, out string) error {
	const cmd = "encrypt"
	alg, err := a.keysetAlgorithm(ksPath)
	if err != nil {
		return err
	}
	if err := requirePrimitive(cmd, ksPath, alg, keyhold.PrimitiveAEAD, keyhold.PrimitiveDAEAD); err != nil {
		return err
	}
	if alg.Primitive() == keyhold.PrimitiveAEAD {
		return a.encryptStream(ksPath, ad, in, out)
	}
	o := output{path: out, what: "ciphertext", perm: 0o644, binary: true}
	if err := a.checkOutput(o); err != nil {
		return err
	}
	pt, err := a.readInput(in, "input", a.maxInput)
	if err != nil {
		return err
	}
	var ct []byte
	// The keyset (its use count) is saved before the ciphertext is
	// written: if the run dies in between, a count is lost in the safe
	// direction (one too many), never a use uncounted.
	err = a.useKeyset(ksPath, true, func(ks *keyhold.Keyset) error {
		if err := requirePrimitive(cmd, ksPath, ks.Algorithm(), keyhold.PrimitiveAEAD, keyhold.PrimitiveDAEAD); err != nil {
			return err
		}
		var err error
		ct, err = crypt(ks, true, pt, ad)
		if errors.Is(err, keyhold.ErrLimitExceeded) {
			return &cliError{code: exitPolicy, err: err, msg: fmt.Sprintf(
				"encrypt: the primary key of %s has reached its usage limit; rotate the keyset ('keyhold keyset rotate %s')", ksPath, ksPath)}
		}
		return wrap(err, "encrypt")
	})
	if err != nil {
		return err
	}
	return a.writeOutput(o, ct)
}

func (a *app) decryptCommand() *cobra.Command {
	var ksPath, ad, in, out string
	c := &cobra.Command{
		Use:   "decrypt --keyset FILE [-i IN] [-o OUT]",
		Short: "Decrypt and authenticate what 'encrypt' made",
		Long: `Decrypt the input with the keyset key it names, after authenticating all of it
with the associated data (--ad, as given to encrypt). Nothing is written unless
authentication succeeds: an output file is written to a temporary file, synced
and renamed into place only then (mode 0600), so a failed decryption never
leaves a partial plaintext. Exit code 3 means the input was altered, truncated,
or not made with this keyset and associated data.

Streams (AEAD keysets) of any size decrypt segment by segment. To standard
output, each segment is written once it authenticated: a failure later in the
stream exits 3 after earlier segments were written, so use -o FILE when only
a complete plaintext may appear. One-shot ciphertexts of earlier versions
(and aes256-siv) are read whole, at most 64 MiB.`,
		Example: `  keyhold decrypt --keyset app.keyset -i report.pdf.khe -o report.pdf
  keyhold decrypt --keyset app.keyset --ad customer:42 < card.khe`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.decrypt(ksPath, []byte(ad), in, out)
		},
	}
	c.Flags().StringVarP(&ksPath, "keyset", "k", "", "keyset file")
	c.Flags().StringVar(&ad, "ad", "", "associated data given to encrypt")
	ioFlags(c.Flags(), &in, &out, "plaintext")
	mustRequire(c, "keyset")
	return c
}

func (a *app) decrypt(ksPath string, ad []byte, in, out string) error {
	const cmd = "decrypt"
	alg, err := a.keysetAlgorithm(ksPath)
	if err != nil {
		return err
	}
	if err := requirePrimitive(cmd, ksPath, alg, keyhold.PrimitiveAEAD, keyhold.PrimitiveDAEAD); err != nil {
		return err
	}
	if alg.Primitive() == keyhold.PrimitiveAEAD {
		return a.decryptInput(ksPath, ad, in, out)
	}
	ct, err := a.readInput(in, "input", a.maxInput)
	if err != nil {
		return err
	}
	var pt []byte
	// Decryption changes nothing in the keyset (use counts count
	// encryptions), so the file is not rewritten and may be read-only.
	err = a.useKeyset(ksPath, false, func(ks *keyhold.Keyset) error {
		if err := requirePrimitive(cmd, ksPath, ks.Algorithm(), keyhold.PrimitiveAEAD, keyhold.PrimitiveDAEAD); err != nil {
			return err
		}
		var err error
		pt, err = crypt(ks, false, ct, ad)
		return inputError(cmd, "ciphertext", ksPath, ct, err)
	})
	if err != nil {
		return err
	}
	return a.writeOutput(output{path: out, what: "plaintext", perm: 0o600}, pt)
}

// inputError explains why an input (a ciphertext, signature or tag) was
// refused. Everything said is public: the header's key id and which of
// the public checks (docs/spec/formats.md §8) failed; every
// secret-dependent failure is the one "authentication failed".
func inputError(cmd, what, ksPath string, in []byte, err error) error {
	if err == nil {
		return nil
	}
	keyID := func() string {
		if len(in) >= 6 {
			return fmt.Sprintf(" %d", binary.BigEndian.Uint32(in[2:6]))
		}
		return ""
	}
	var code int
	var msg string
	switch {
	case errors.Is(err, keyhold.ErrAuthFailed):
		if what == "ciphertext" {
			msg = "authentication failed: the ciphertext was altered, or it was not made with this keyset and associated data"
		} else {
			msg = "authentication failed: the " + what + " or the input was altered, or the " + what + " was not made with this keyset"
		}
		code = exitAuth
	case errors.Is(err, keyhold.ErrMalformed):
		code, msg = exitAuth, "the input is not a keyhold "+what+" of this keyset's type (truncated or malformed)"
	case errors.Is(err, keyhold.ErrUnsupported):
		code, msg = exitAuth, "the input is not a keyhold "+what+" (unknown format version)"
	case errors.Is(err, keyhold.ErrUnknownKey):
		code, msg = exitAuth, fmt.Sprintf("the %s names key%s, which keyset %s does not hold (made with another keyset?)", what, keyID(), ksPath)
	case errors.Is(err, keyhold.ErrKeyDisabled):
		code, msg = exitPolicy, fmt.Sprintf("the %s's key%s is disabled in keyset %s ('keyhold keyset enable' to use it again)", what, keyID(), ksPath)
	case errors.Is(err, keyhold.ErrKeyDestroyed):
		code, msg = exitPolicy, fmt.Sprintf("the %s's key%s was destroyed in keyset %s", what, keyID(), ksPath)
	default:
		return wrap(err, "%s", cmd)
	}
	return &cliError{code: code, msg: cmd + ": " + msg, err: err}
}

func (a *app) signCommand() *cobra.Command {
	var ksPath, in, out string
	c := &cobra.Command{
		Use:   "sign --keyset FILE [-i IN] [-o SIG]",
		Short: "Sign with an Ed25519 or ECDSA P-256 keyset",
		Long: `Sign the input with the keyset's primary key. The signature is in keyhold format
(docs/spec/formats.md): a 6-byte header naming the key, then the signature over
header || input, so it still verifies after the keyset is rotated. The keyset
file is saved afterwards (use counts). At most 64 MiB of input.`,
		Example: `  keyhold sign --keyset signing.keyset -i release.tar.gz -o release.tar.gz.sig`,
		Args:    argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			const name = "sign"
			alg, err := a.keysetAlgorithm(ksPath)
			if err != nil {
				return err
			}
			if err := requirePrimitive(name, ksPath, alg, keyhold.PrimitiveSignature); err != nil {
				return err
			}
			o := output{path: out, what: "signature", perm: 0o644, binary: true}
			if err := a.checkOutput(o); err != nil {
				return err
			}
			msg, err := a.readInput(in, "input", a.maxInput)
			if err != nil {
				return err
			}
			var sig []byte
			err = a.useKeyset(ksPath, true, func(ks *keyhold.Keyset) error {
				if err := requirePrimitive(name, ksPath, ks.Algorithm(), keyhold.PrimitiveSignature); err != nil {
					return err
				}
				s, err := ks.Signer()
				if err == nil {
					sig, err = s.SignWithHeader(msg)
				}
				return wrap(err, "sign")
			})
			if err != nil {
				return err
			}
			return a.writeOutput(o, sig)
		},
	}
	c.Flags().StringVarP(&ksPath, "keyset", "k", "", "keyset file")
	ioFlags(c.Flags(), &in, &out, "signature")
	mustRequire(c, "keyset")
	return c
}

func (a *app) verifyCommand() *cobra.Command {
	var ksPath, sigPath, in string
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify --keyset FILE --sig SIG [-i IN]",
		Short: "Verify a signature made by 'sign'",
		Long: `Verify a keyhold-format signature of the input with the keyset key it names.
Exit code 0 and "verified" mean valid; exit code 3 means the signature or the
input was altered, or the signature was not made with this keyset.`,
		Example: `  keyhold verify --keyset signing.keyset --sig release.tar.gz.sig -i release.tar.gz`,
		Args:    argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			const name = "verify"
			alg, err := a.keysetAlgorithm(ksPath)
			if err != nil {
				return err
			}
			if err := requirePrimitive(name, ksPath, alg, keyhold.PrimitiveSignature); err != nil {
				return err
			}
			if isStdio(sigPath) && isStdio(in) {
				return usageErrorf("verify: the signature and the input cannot both come from standard input")
			}
			sig, err := a.readInput(sigPath, "signature", maxSmallInput)
			if err != nil {
				return err
			}
			msg, err := a.readInput(in, "input", a.maxInput)
			if err != nil {
				return err
			}
			var raw bool
			err = a.useKeyset(ksPath, false, func(ks *keyhold.Keyset) error {
				if err := requirePrimitive(name, ksPath, ks.Algorithm(), keyhold.PrimitiveSignature); err != nil {
					return err
				}
				raw = ks.IsRaw()
				v, err := ks.Verifier()
				if err == nil {
					err = v.Verify(msg, sig)
				}
				return inputError(name, "signature", ksPath, sig, err)
			})
			if err != nil {
				return err
			}
			return a.verified(sig, raw, asJSON)
		},
	}
	c.Flags().StringVarP(&ksPath, "keyset", "k", "", "keyset file")
	c.Flags().StringVarP(&sigPath, "sig", "s", "", "signature file")
	ioFlags(c.Flags(), &in, nil, "")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	mustRequire(c, "keyset", "sig")
	return c
}

// verified reports a valid signature or tag, naming the key from its
// header, which verification has just authenticated. Raw keysets' outputs
// have no header.
func (a *app) verified(out []byte, raw, asJSON bool) error {
	var id uint32
	if !raw && len(out) >= 6 {
		id = binary.BigEndian.Uint32(out[2:6])
	}
	if asJSON {
		return a.printJSON(map[string]any{"valid": true, "key": id})
	}
	if id == 0 {
		fmt.Fprintln(a.stdout, "verified")
		return nil
	}
	fmt.Fprintf(a.stdout, "verified (key %d)\n", id)
	return nil
}

func (a *app) macCommand() *cobra.Command {
	var ksPath, in, out, verify string
	var asJSON bool
	c := &cobra.Command{
		Use:   "mac --keyset FILE [-i IN] [-o OUT]",
		Short: "Compute (or, with --verify, check) an HMAC tag",
		Long: `Compute the HMAC tag of the input with the keyset's primary key, in keyhold
format (a 6-byte header naming the key, then the tag), so it still verifies
after rotation. With --verify TAG, check a tag instead: exit 0 if it is valid,
3 if not. Computing saves the keyset file afterwards (use counts).`,
		Example: `  keyhold mac --keyset mac.keyset -i config.json -o config.json.mac
  keyhold mac --keyset mac.keyset -i config.json --verify config.json.mac`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			const name = "mac"
			alg, err := a.keysetAlgorithm(ksPath)
			if err != nil {
				return err
			}
			if err := requirePrimitive(name, ksPath, alg, keyhold.PrimitiveMAC); err != nil {
				return err
			}
			if verify != "" && out != "" {
				return usageErrorf("mac: --verify and -o exclude each other")
			}
			if verify != "" && isStdio(verify) && isStdio(in) {
				return usageErrorf("mac: the tag and the input cannot both come from standard input")
			}
			o := output{path: out, what: "tag", perm: 0o644, binary: true}
			if verify == "" {
				if err := a.checkOutput(o); err != nil {
					return err
				}
			}
			var tag []byte
			if verify != "" {
				if tag, err = a.readInput(verify, "tag", maxSmallInput); err != nil {
					return err
				}
			}
			msg, err := a.readInput(in, "input", a.maxInput)
			if err != nil {
				return err
			}
			var raw bool
			err = a.useKeyset(ksPath, verify == "", func(ks *keyhold.Keyset) error {
				if err := requirePrimitive(name, ksPath, ks.Algorithm(), keyhold.PrimitiveMAC); err != nil {
					return err
				}
				raw = ks.IsRaw()
				m, err := ks.MAC()
				if err != nil {
					return wrap(err, "mac")
				}
				if verify != "" {
					return inputError(name, "tag", ksPath, tag, m.Verify(msg, tag))
				}
				tag, err = m.Compute(msg)
				return wrap(err, "mac")
			})
			if err != nil {
				return err
			}
			if verify != "" {
				return a.verified(tag, raw, asJSON)
			}
			return a.writeOutput(o, tag)
		},
	}
	c.Flags().StringVarP(&ksPath, "keyset", "k", "", "keyset file")
	ioFlags(c.Flags(), &in, &out, "tag")
	c.Flags().StringVar(&verify, "verify", "", "tag file to check instead of computing one")
	c.Flags().BoolVar(&asJSON, "json", false, "with --verify: print the result as JSON")
	mustRequire(c, "keyset")
	return c
}

// crypt encrypts or decrypts with whichever of AEAD and DAEAD the keyset
// is (the caller checked it is one of them).
func crypt(ks *keyhold.Keyset, encrypt bool, in, ad []byte) ([]byte, error) {
	var c interface {
		Encrypt(plaintext, associatedData []byte) ([]byte, error)
		Decrypt(ciphertext, associatedData []byte) ([]byte, error)
	}
	var err error
	if ks.Algorithm().Primitive() == keyhold.PrimitiveAEAD {
		c, err = ks.AEAD()
	} else {
		c, err = ks.DAEAD()
	}
	if err != nil {
		return nil, err
	}
	if encrypt {
		return c.Encrypt(in, ad)
	}
	return c.Decrypt(in, ad)
}
