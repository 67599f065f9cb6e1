package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func init() { rootCmd.AddCommand(newUserCmd()) }

// newUserCmd builds `strata user`: SCRAM credentials through Kafka's
// AlterUserScramCredentials and DescribeUserScramCredentials (KIP-554).
func newUserCmd() *cobra.Command {
	var o topicCmdOptions
	cmd := &cobra.Command{Use: "user", Short: "Create, list and delete SCRAM users"}
	bindClientFlags(cmd.PersistentFlags(), &o.Client)
	cmd.PersistentFlags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "deadline for the whole command")

	var passFile, mechs string
	var iterations int
	create := &cobra.Command{
		Use:   "create NAME --password-file FILE",
		Short: "Create a user, or set its password (SCRAM-SHA-256 and -512 by default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if passFile == "" {
				return fmt.Errorf("--password-file is required (a password never goes on the command line)")
			}
			raw, err := os.ReadFile(passFile)
			if err != nil {
				return fmt.Errorf("--password-file: %w", err)
			}
			pass := strings.TrimRight(string(raw), "\r\n")
			if pass == "" {
				return fmt.Errorf("--password-file %s is empty", passFile)
			}
			var ups []kadm.UpsertSCRAM
			for _, m := range splitList(mechs) {
				mech, err := scramMechFlag(m)
				if err != nil {
					return err
				}
				ups = append(ups, kadm.UpsertSCRAM{User: args[0], Mechanism: mech, Iterations: int32(iterations), Password: pass})
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
				if err != nil {
					return err
				}
				if r := res[args[0]]; r.Err != nil {
					return fmt.Errorf("user %s: %w", args[0], newBrokerError(r.Err, r.ErrMessage))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credentials set\n", args[0], mechs)
				return nil
			})
		},
	}
	create.Flags().StringVar(&passFile, "password-file", "", "file holding the password")
	create.Flags().StringVar(&mechs, "mechanism", "SCRAM-SHA-256,SCRAM-SHA-512", "mechanisms to store credentials for")
	create.Flags().IntVar(&iterations, "iterations", 8192, "SCRAM iterations (4096-16384)")

	list := &cobra.Command{
		Use:   "list [NAME...]",
		Short: "List users and their mechanisms",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DescribeUserSCRAMs(ctx, args...)
				if err != nil {
					return err
				}
				names := make([]string, 0, len(res))
				for n := range res {
					names = append(names, n)
				}
				sort.Strings(names)
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "USER\tMECHANISMS")
				for _, n := range names {
					r := res[n]
					if r.Err != nil {
						return fmt.Errorf("user %s: %w", n, newBrokerError(r.Err, r.ErrMessage))
					}
					var ms []string
					for _, ci := range r.CredInfos {
						ms = append(ms, fmt.Sprintf("%s (%d iterations)", ci.Mechanism, ci.Iterations))
					}
					fmt.Fprintf(w, "%s\t%s\n", n, strings.Join(ms, ", "))
				}
				return w.Flush()
			})
		},
	}

	var delMechs string
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's credentials (every mechanism by default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				desc, err := adm.DescribeUserSCRAMs(ctx, args[0])
				if err != nil {
					return err
				}
				if r := desc[args[0]]; r.Err != nil {
					return fmt.Errorf("user %s: %w", args[0], newBrokerError(r.Err, r.ErrMessage))
				}
				var dels []kadm.DeleteSCRAM
				for _, ci := range desc[args[0]].CredInfos {
					if delMechs == "" || strings.Contains(strings.ToUpper(delMechs), ci.Mechanism.String()) {
						dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: ci.Mechanism})
					}
				}
				if len(dels) == 0 {
					return fmt.Errorf("user %s has no credentials for %s", args[0], delMechs)
				}
				res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
				if err != nil {
					return err
				}
				if r := res[args[0]]; r.Err != nil {
					return fmt.Errorf("user %s: %w", args[0], newBrokerError(r.Err, r.ErrMessage))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", args[0])
				return nil
			})
		},
	}
	del.Flags().StringVar(&delMechs, "mechanism", "", "delete only these mechanisms' credentials")
	cmd.AddCommand(create, list, del)
	return cmd
}

func scramMechFlag(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}
