package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
)

func init() { rootCmd.AddCommand(newQuotaCmd()) }

// quotaEntityFlags name a quota entity: --user NAME or --user-default,
// --client ID or --client-default.
type quotaEntityFlags struct {
	User, ClientID               string
	UserDefault, ClientIDDefault bool
	userSet, clientSet           bool
}

func (f *quotaEntityFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.User, "user", "", "user name (as authenticated, without User:)")
	fs.BoolVar(&f.UserDefault, "user-default", false, "the default user (every user without a quota of its own)")
	fs.StringVar(&f.ClientID, "client", "", "client id the quota is for (--client-id is the id this command sends)")
	fs.BoolVar(&f.ClientIDDefault, "client-default", false, "the default client id")
}

// components returns the entity; the user and client id flags' Changed
// state says whether a name was given (an empty client id is a name).
func (f *quotaEntityFlags) components(fs *pflag.FlagSet) (kadm.ClientQuotaEntity, error) {
	f.userSet, f.clientSet = fs.Changed("user"), fs.Changed("client")
	if f.userSet && f.UserDefault {
		return nil, errors.New("--user and --user-default exclude each other")
	}
	if f.clientSet && f.ClientIDDefault {
		return nil, errors.New("--client and --client-default exclude each other")
	}
	var e kadm.ClientQuotaEntity
	switch {
	case f.userSet:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "user", Name: &f.User})
	case f.UserDefault:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "user"})
	}
	switch {
	case f.clientSet:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &f.ClientID})
	case f.ClientIDDefault:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "client-id"})
	}
	return e, nil
}

// parseQuotaOps reads --add key=value and --delete key into ops.
func parseQuotaOps(add, del []string) ([]kadm.AlterClientQuotaOp, error) {
	var ops []kadm.AlterClientQuotaOp
	for _, kv := range add {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--add %q: want key=value", kv)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("--add %s: %q is not a number", k, v)
		}
		ops = append(ops, kadm.AlterClientQuotaOp{Key: strings.TrimSpace(k), Value: f})
	}
	for _, k := range del {
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	if len(ops) == 0 {
		return nil, errors.New("nothing to change: give --add key=value or --delete key")
	}
	return ops, nil
}

// newQuotaCmd builds `strata quota`: client quotas through
// DescribeClientQuotas and AlterClientQuotas, as kafka-configs manages
// them for users and clients.
func newQuotaCmd() *cobra.Command {
	var o topicCmdOptions
	cmd := &cobra.Command{Use: "quota", Short: "Describe and alter client quotas (producer_byte_rate, consumer_byte_rate, request_percentage)"}
	bindClientFlags(cmd.PersistentFlags(), &o.Client)
	cmd.PersistentFlags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "deadline for the whole command")

	var af quotaEntityFlags
	var add, del []string
	var dryRun bool
	alter := &cobra.Command{
		Use:   "alter --user NAME|--user-default [--client ID|--client-default] --add KEY=VALUE... --delete KEY...",
		Short: "Set or remove an entity's quotas",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ent, err := af.components(cmd.Flags())
			if err != nil {
				return err
			}
			if len(ent) == 0 {
				return errors.New("name the entity with --user/--user-default and/or --client/--client-default")
			}
			ops, err := parseQuotaOps(add, del)
			if err != nil {
				return err
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				alterFn := adm.AlterClientQuotas
				if dryRun {
					alterFn = adm.ValidateAlterClientQuotas
				}
				res, err := alterFn(ctx, []kadm.AlterClientQuotaEntry{{Entity: ent, Ops: ops}})
				if err != nil {
					return err
				}
				for _, r := range res {
					if r.Err != nil {
						return fmt.Errorf("%s: %w", r.Entity, newBrokerError(r.Err, r.ErrMessage))
					}
				}
				verb := "altered"
				if dryRun {
					verb = "valid (not applied)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "quotas of %s %s\n", ent, verb)
				return nil
			})
		},
	}
	af.bind(alter.Flags())
	alter.Flags().StringArrayVar(&add, "add", nil, "quota to set, KEY=VALUE (repeatable): producer_byte_rate, consumer_byte_rate (bytes/s), request_percentage (% of one thread)")
	alter.Flags().StringArrayVar(&del, "delete", nil, "quota key to remove (repeatable)")
	alter.Flags().BoolVar(&dryRun, "dry-run", false, "validate on the broker without applying")

	var df quotaEntityFlags
	var strict bool
	describe := &cobra.Command{
		Use:   "describe [--user NAME|--user-default] [--client ID|--client-default] [--strict]",
		Short: "List quotas: every entity, or those matching the user and client id given",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ent, err := df.components(cmd.Flags())
			if err != nil {
				return err
			}
			var comps []kadm.DescribeClientQuotaComponent
			for _, c := range ent {
				dc := kadm.DescribeClientQuotaComponent{Type: c.Type, MatchName: c.Name, MatchType: 0}
				if c.Name == nil {
					dc.MatchType = 1
				}
				comps = append(comps, dc)
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DescribeClientQuotas(ctx, strict, comps)
				if err != nil {
					return err
				}
				sort.Slice(res, func(i, j int) bool { return res[i].Entity.String() < res[j].Entity.String() })
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ENTITY\tQUOTAS")
				for _, q := range res {
					var vs []string
					for _, v := range q.Values {
						vs = append(vs, fmt.Sprintf("%s=%s", v.Key, strconv.FormatFloat(v.Value, 'f', -1, 64)))
					}
					sort.Strings(vs)
					fmt.Fprintf(w, "%s\t%s\n", q.Entity, strings.Join(vs, ", "))
				}
				return w.Flush()
			})
		},
	}
	df.bind(describe.Flags())
	describe.Flags().BoolVar(&strict, "strict", false, "only entities with exactly the components given")
	cmd.AddCommand(alter, describe)
	return cmd
}
