package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"keyhold.dev/keyhold/internal/auditlog"
)

func (a *app) auditCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Check the engine's tamper-evident audit log",
		Long: `The engine appends an audit record for every key lifecycle event, policy
decision and self-test result, and per-interval counts of key use, to
$KEYHOLD_HOME/audit.log (KEYHOLD_AUDIT_FILE). Records are hash-chained JSON
lines with HMAC-SHA256 checkpoints under the key in audit.key beside the log
(docs/spec/audit.md).`,
		Example: `  keyhold audit verify ~/.keyhold/audit.log`,
	}
	c.AddCommand(a.auditVerifyCommand())
	return c
}

func (a *app) auditVerifyCommand() *cobra.Command {
	var (
		keyPath, headPath string
		noHead, partial   bool
		rotated, asJSON   bool
	)
	c := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Verify an audit log: schema, sequence, hash chain, checkpoints, head",
		Long: `Verify audit log files, oldest first (rotated files, then the live log), as one
chain: every record's JSON schema, consecutive sequence numbers, each record's
hash of its predecessor (across rotations), every checkpoint's HMAC-SHA256, and
that the log still holds the checkpoint named by the head file (FILE.head of
the last FILE), so that records cut off the end are caught.

Deletion, insertion, reordering and modification of records anywhere, and
truncation up to the newest checkpoint, are defects: the first one is reported
with its file and line number and the exit code is 3. Records after the newest
checkpoint are chained but not yet authenticated (a live log): they are
counted in the report.

The checkpoint key is --key, else $KEYHOLD_AUDIT_KEY, else audit.key in the
directory of the last FILE. With --rotated, FILE is the live log and its
rotated predecessors (FILE.<sequence>) are found and verified before it.`,
		Example: `  keyhold audit verify ~/.keyhold/audit.log
  keyhold audit verify --rotated ~/.keyhold/audit.log
  keyhold audit verify --partial --no-head archive/audit.log.00000000000000012345`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s needs at least one FILE (see '%s --help')", cmd.CommandPath(), cmd.CommandPath())
			}
			if rotated && len(args) != 1 {
				return usageErrorf("%s --rotated takes exactly one FILE, the live log", cmd.CommandPath())
			}
			if noHead && headPath != "" {
				return usageErrorf("%s: --head and --no-head exclude each other", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			files := args
			if rotated {
				var err error
				if files, err = auditlog.RotatedFiles(args[0]); err != nil {
					return failf(exitUsage, "audit verify: %v", err)
				}
			}
			last := files[len(files)-1]
			if keyPath == "" {
				keyPath = os.Getenv("KEYHOLD_AUDIT_KEY")
			}
			if keyPath == "" {
				keyPath = filepath.Join(filepath.Dir(last), "audit.key")
			}
			key, err := os.ReadFile(keyPath)
			if err != nil {
				return wrap(err, "audit verify: checkpoint key")
			}
			if len(key) != auditlog.KeyLen {
				return failf(exitIO, "audit verify: checkpoint key %s: %d bytes, want %d", keyPath, len(key), auditlog.KeyLen)
			}
			opt := auditlog.Options{Key: key, Partial: partial}
			headNote := ""
			if !noHead {
				hp := headPath
				if hp == "" {
					hp = last + ".head"
				}
				head, err := os.ReadFile(hp)
				switch {
				case err == nil:
					opt.Head = head
				case headPath == "" && errors.Is(err, os.ErrNotExist):
					headNote = "no head file: truncation could not be checked"
				default:
					return wrap(err, "audit verify: head file")
				}
			}
			rep, err := auditlog.Verify(files, opt)
			if err != nil {
				var d *auditlog.Defect
				if errors.As(err, &d) {
					return failf(exitAuth, "audit verify: %s", d.Error())
				}
				return wrap(err, "audit verify")
			}
			if asJSON {
				out := map[string]any{
					"ok": true, "files": rep.Files, "records": rep.Records, "checkpoints": rep.Checkpoints,
					"first_seq": rep.FirstSeq, "last_seq": rep.LastSeq, "unsealed": rep.Unsealed,
					"head_seq": rep.HeadSeq,
				}
				if headNote != "" {
					out["note"] = headNote
				}
				b, _ := json.Marshal(out)
				fmt.Fprintln(a.stdout, string(b))
				return nil
			}
			fmt.Fprintf(a.stdout, "ok: %d records in %d file(s), sequence %d..%d, %d checkpoint(s)",
				rep.Records, rep.Files, rep.FirstSeq, rep.LastSeq, rep.Checkpoints)
			if rep.Unsealed > 0 {
				fmt.Fprintf(a.stdout, ", %d record(s) after the last checkpoint", rep.Unsealed)
			}
			fmt.Fprintln(a.stdout)
			if headNote != "" {
				fmt.Fprintln(a.stdout, "note:", headNote)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyPath, "key", "", "checkpoint key file (default: $KEYHOLD_AUDIT_KEY, else audit.key beside the last FILE)")
	f.StringVar(&headPath, "head", "", "head file naming the newest checkpoint (default: FILE.head of the last FILE, if present)")
	f.BoolVar(&noHead, "no-head", false, "do not check the head file (archived logs)")
	f.BoolVar(&partial, "partial", false, "accept a first FILE that continues an older, absent file")
	f.BoolVar(&rotated, "rotated", false, "verify FILE's rotated predecessors (FILE.<sequence>) before it")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}
