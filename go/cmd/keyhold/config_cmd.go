package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) configCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Show the engine's effective configuration",
		Long: `Commands about the engine's configuration: KEYHOLD_* environment variables
over an optional TOML file named by KEYHOLD_CONFIG (docs/configuration.md).`,
		Example: `  keyhold config show`,
		Args:    argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(a.configShowCommand())
	return c
}

func (a *app) configShowCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Print every setting, its value and where it came from",
		Long: `Print every configuration setting of the engine: its config-file key, its
environment variable, its effective value and its source (default, file or
env). Configuration holds no secret: KEK specs, PINs and keys are not part of
it. An invalid configuration is reported with the variable or key at fault
(exit 1).`,
		Example: `  keyhold config show
  KEYHOLD_CONFIG=/etc/keyhold/keyhold.toml keyhold config show --json | jq '.settings[] | select(.source != "default")'`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.openEngine()
			if err != nil {
				return err
			}
			cfg, err := e.Config()
			if err != nil {
				return wrap(err, "reading the configuration")
			}
			if asJSON {
				b, err := json.MarshalIndent(cfg, "", "  ")
				if err != nil {
					return failf(exitError, "config show: %v", err)
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", b)
				return err
			}
			file := cfg.File
			if file == "" {
				file = "(none; set KEYHOLD_CONFIG to read one)"
			}
			fmt.Fprintf(a.stdout, "config file: %s\n\n", file)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSOURCE\tVARIABLE\tVALUE")
			for _, s := range cfg.Settings {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Source, s.Env, s.Value)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the configuration as JSON")
	return c
}
