package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { rootCmd.AddCommand(newACLCmd()) }

// aclFlags are the selectors `strata acl create|list|delete` share. For
// create they describe the ACLs to add (every combination of principal,
// host, resource and operation); for list and delete they are a filter in
// which an unset selector matches anything.
type aclFlags struct {
	Allow, Deny     []string
	Hosts           []string
	Operations      string
	Topics, Groups  []string
	TransactionalID []string
	Cluster         bool
	Pattern         string
}

func (f *aclFlags) bind(fs *pflag.FlagSet, pattern, what string) {
	fs.StringArrayVar(&f.Allow, "allow", nil, "principal "+what+" allowed, as User:NAME (repeatable)")
	fs.StringArrayVar(&f.Deny, "deny", nil, "principal "+what+" denied, as User:NAME (repeatable)")
	fs.StringArrayVar(&f.Hosts, "host", nil, "client IP the ACL applies to (repeatable; default every host, *)")
	fs.StringVar(&f.Operations, "operation", "", "comma-separated operations: read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write, all")
	fs.StringArrayVar(&f.Topics, "topic", nil, "topic name or prefix (repeatable; * is every topic)")
	fs.StringArrayVar(&f.Groups, "group", nil, "consumer group name or prefix (repeatable)")
	fs.StringArrayVar(&f.TransactionalID, "transactional-id", nil, "transactional id or prefix (repeatable)")
	fs.BoolVar(&f.Cluster, "cluster", false, "the cluster resource")
	fs.StringVar(&f.Pattern, "pattern", pattern, "resource name pattern: literal, prefixed"+map[bool]string{true: ", any or match", false: ""}[pattern == "any"])
}

// hasResource says whether a resource selector was given.
func (f *aclFlags) hasResource() bool {
	return len(f.Topics)+len(f.Groups)+len(f.TransactionalID) > 0 || f.Cluster
}

// builder turns the flags into kadm's ACL builder. filter says whether it
// is a list/delete filter (unset selectors match anything) or a create.
func (f *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	pat, err := kmsg.ParseACLResourcePatternType(f.Pattern)
	if err != nil || pat == kmsg.ACLResourcePatternTypeUnknown {
		return nil, fmt.Errorf("--pattern %q: want literal, prefixed, any or match", f.Pattern)
	}
	if !filter && pat != kmsg.ACLResourcePatternTypeLiteral && pat != kmsg.ACLResourcePatternTypePrefixed {
		return nil, fmt.Errorf("--pattern %s: an ACL is created literal or prefixed", f.Pattern)
	}
	var ops []kadm.ACLOperation
	for _, s := range splitList(f.Operations) {
		op, err := kmsg.ParseACLOperation(strings.ReplaceAll(s, "-", "_"))
		if err != nil || op == kmsg.ACLOperationUnknown || (!filter && op == kmsg.ACLOperationAny) {
			return nil, fmt.Errorf("--operation %q is not an ACL operation", s)
		}
		ops = append(ops, op)
	}
	b := kadm.NewACLs().ResourcePatternType(pat)
	switch {
	case filter && !f.hasResource():
		b.AnyResource()
	default:
		if len(f.Topics) > 0 {
			b.Topics(f.Topics...)
		}
		if len(f.Groups) > 0 {
			b.Groups(f.Groups...)
		}
		if len(f.TransactionalID) > 0 {
			b.TransactionalIDs(f.TransactionalID...)
		}
		if f.Cluster {
			b.Clusters()
		}
	}
	if !filter {
		if len(f.Allow)+len(f.Deny) == 0 {
			return nil, errors.New("name a principal with --allow or --deny")
		}
		if !f.hasResource() {
			return nil, errors.New("name a resource with --topic, --group, --transactional-id or --cluster")
		}
		if len(ops) == 0 {
			return nil, errors.New("name the operations with --operation")
		}
		hosts := f.Hosts
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		if len(f.Allow) > 0 {
			b.Allow(f.Allow...).AllowHosts(hosts...)
		}
		if len(f.Deny) > 0 {
			b.Deny(f.Deny...).DenyHosts(hosts...)
		}
		return b.Operations(ops...), nil
	}
	// A filter: with no principal named, both permissions and every
	// principal match; naming only --allow leaves deny ACLs out.
	if len(f.Allow)+len(f.Deny) == 0 {
		b.Allow().AllowHosts(f.Hosts...).Deny().DenyHosts(f.Hosts...)
	} else {
		if len(f.Allow) > 0 {
			b.Allow(f.Allow...).AllowHosts(f.Hosts...)
		}
		if len(f.Deny) > 0 {
			b.Deny(f.Deny...).DenyHosts(f.Hosts...)
		}
	}
	return b.Operations(ops...), nil
}

// newACLCmd builds `strata acl`: Kafka ACLs through CreateAcls,
// DescribeAcls and DeleteAcls, as kafka-acls manages them.
func newACLCmd() *cobra.Command {
	var o topicCmdOptions
	cmd := &cobra.Command{Use: "acl", Short: "Create, list and delete ACLs"}
	bindClientFlags(cmd.PersistentFlags(), &o.Client)
	cmd.PersistentFlags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "deadline for the whole command")

	var cf aclFlags
	create := &cobra.Command{
		Use:   "create --allow|--deny PRINCIPAL --operation OPS --topic|--group|--transactional-id|--cluster ...",
		Short: "Add ACLs: every principal × host × resource × operation named",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := cf.builder(false)
			if err != nil {
				return err
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.CreateACLs(ctx, b)
				if err != nil {
					return err
				}
				var errs []error
				for _, r := range res {
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("%s %s %s on %s %s: %w", r.Permission, r.Principal, r.Operation, r.Type, r.Name, newBrokerError(r.Err, r.ErrMessage)))
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "created: %s %s %s from %s on %s %s:%s\n", r.Permission, r.Principal, r.Operation, r.Host, r.Type, r.Pattern, r.Name)
				}
				return errors.Join(errs...)
			})
		},
	}
	cf.bind(create.Flags(), "literal", "to be")

	var lf aclFlags
	list := &cobra.Command{
		Use:   "list [filters]",
		Short: "List ACLs matching the filters (every ACL when none is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := lf.builder(true)
			if err != nil {
				return err
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DescribeACLs(ctx, b)
				if err != nil {
					return err
				}
				var rows []aclRow
				for _, r := range res {
					if r.Err != nil {
						return newBrokerError(r.Err, r.ErrMessage)
					}
					for _, d := range r.Described {
						rows = append(rows, aclRow{d.Principal, d.Host, d.Type, d.Name, d.Pattern, d.Operation, d.Permission})
					}
				}
				return printACLs(cmd.OutOrStdout(), rows)
			})
		},
	}
	lf.bind(list.Flags(), "any", "")

	var df aclFlags
	del := &cobra.Command{
		Use:   "delete --topic|--group|--transactional-id|--cluster ... [filters]",
		Short: "Delete the ACLs matching the filters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !df.hasResource() {
				return errors.New("name the resource whose ACLs to delete with --topic, --group, --transactional-id or --cluster")
			}
			b, err := df.builder(true)
			if err != nil {
				return err
			}
			return o.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DeleteACLs(ctx, b)
				if err != nil {
					return err
				}
				var rows []aclRow
				var errs []error
				for _, r := range res {
					if r.Err != nil {
						errs = append(errs, newBrokerError(r.Err, r.ErrMessage))
						continue
					}
					for _, d := range r.Deleted {
						if d.Err != nil {
							errs = append(errs, newBrokerError(d.Err, d.ErrMessage))
							continue
						}
						rows = append(rows, aclRow{d.Principal, d.Host, d.Type, d.Name, d.Pattern, d.Operation, d.Permission})
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %d ACLs\n", len(rows))
				if len(rows) > 0 {
					if err := printACLs(cmd.OutOrStdout(), rows); err != nil {
						return err
					}
				}
				return errors.Join(errs...)
			})
		},
	}
	df.bind(del.Flags(), "any", "")
	cmd.AddCommand(create, list, del)
	return cmd
}

type aclRow struct {
	Principal, Host string
	Type            kmsg.ACLResourceType
	Name            string
	Pattern         kadm.ACLPattern
	Operation       kadm.ACLOperation
	Permission      kmsg.ACLPermissionType
}

// printACLs writes rows sorted by resource, then principal and operation.
func printACLs(out io.Writer, rows []aclRow) error {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		return a.Operation < b.Operation
	})
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PRINCIPAL\tHOST\tPERMISSION\tOPERATION\tRESOURCE\tPATTERN\tNAME")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Principal, r.Host, r.Permission, r.Operation, r.Type, r.Pattern, r.Name)
	}
	return w.Flush()
}
