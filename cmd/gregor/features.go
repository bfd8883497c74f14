package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newFeaturesCommand is gregor's kafka-features: it shows the cluster's
// feature levels (KIP-584) and moves them with UpdateFeatures.
func newFeaturesCommand() *cobra.Command {
	opts := &groupOptions{}
	cmd := &cobra.Command{
		Use:   "features",
		Short: "Show and change the cluster's finalized feature levels (transaction.version, eligible.leader.replicas.version, ...)",
	}
	opts.client.register(cmd)
	cmd.PersistentFlags().DurationVar(&opts.timeout, "timeout", defaultAdminTimeout, "how long a request may take")
	cmd.AddCommand(
		newFeaturesDescribeCommand(opts),
		newFeaturesUpdateCommand(opts, "upgrade", "Raise features to the levels named (refused while a broker does not support a level)"),
		newFeaturesUpdateCommand(opts, "downgrade", "Lower features to the levels named (--unsafe for a lossy downgrade)"),
		newFeaturesUpdateCommand(opts, "disable", "Lower the features named to level 0, as before they existed"),
	)
	return cmd
}

func newFeaturesDescribeCommand(opts *groupOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe",
		Short: "List the features the broker supports, with the level the cluster finalized",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.withAdmin(cmd, func(ctx context.Context, cl *kgo.Client, _ *kadm.Client) error {
				resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
				if err != nil {
					return fmt.Errorf("api versions: %w", err)
				}
				finalized := map[string]int16{}
				for _, f := range resp.FinalizedFeatures {
					finalized[f.Name] = f.MaxVersionLevel
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "FEATURE\tSUPPORTED\tFINALIZED")
				features := slices.Clone(resp.SupportedFeatures)
				slices.SortFunc(features, func(a, b kmsg.ApiVersionsResponseSupportedFeature) int { return strings.Compare(a.Name, b.Name) })
				for _, f := range features {
					fmt.Fprintf(tw, "%s\t%d-%d\t%d\n", f.Name, f.MinVersion, f.MaxVersion, finalized[f.Name])
				}
				return tw.Flush()
			})
		},
	}
}

// newFeaturesUpdateCommand is upgrade, downgrade or disable: one
// UpdateFeatures of every --feature, all or nothing.
func newFeaturesUpdateCommand(opts *groupOptions, verb, short string) *cobra.Command {
	var features []string
	var unsafe, dryRun bool
	cmd := &cobra.Command{
		Use:   verb + " --feature NAME" + map[bool]string{true: "", false: "=LEVEL"}[verb == "disable"] + "...",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			updates, err := featureUpdates(verb, features, unsafe)
			if err != nil {
				return err
			}
			return opts.withAdmin(cmd, func(ctx context.Context, _ *kgo.Client, adm *kadm.Client) error {
				res, err := adm.UpdateFeatures(ctx, dryRun, updates...)
				if err != nil {
					return fmt.Errorf("update features: %w", err)
				}
				var failed error
				for _, r := range res.Sorted() {
					if r.Err != nil {
						failed = fmt.Errorf("%s: %w", r.Feature, r.Err)
						continue
					}
					level := updates[slices.IndexFunc(updates, func(u kadm.FeatureUpdate) bool { return u.Feature == r.Feature })].MaxVersionLevel
					if dryRun {
						fmt.Fprintf(cmd.OutOrStdout(), "%s can be moved to level %d\n", r.Feature, level)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "%s is at level %d\n", r.Feature, level)
					}
				}
				return failed
			})
		},
	}
	help := "a feature and its level, NAME=LEVEL (repeatable)"
	if verb == "disable" {
		help = "a feature to lower to level 0 (repeatable)"
	}
	cmd.Flags().StringSliceVar(&features, "feature", nil, help)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate the change without making it")
	if verb == "downgrade" || verb == "disable" {
		cmd.Flags().BoolVar(&unsafe, "unsafe", false, "allow a downgrade that may lose metadata (UpdateFeatures' unsafe downgrade)")
	}
	return cmd
}

// featureUpdates reads the --feature flags of an upgrade, a downgrade or a
// disable into UpdateFeatures' updates.
func featureUpdates(verb string, features []string, unsafe bool) ([]kadm.FeatureUpdate, error) {
	if len(features) == 0 {
		return nil, fmt.Errorf("%s needs --feature", verb)
	}
	upgradeType := int8(1)
	if verb != "upgrade" {
		upgradeType = 2
		if unsafe {
			upgradeType = 3
		}
	}
	var out []kadm.FeatureUpdate
	for _, f := range features {
		name, levelText, hasLevel := strings.Cut(f, "=")
		var level int16
		switch {
		case verb == "disable" && hasLevel:
			return nil, fmt.Errorf("--feature %s: disable takes a feature name alone", f)
		case verb != "disable":
			n, err := strconv.ParseInt(levelText, 10, 16)
			if !hasLevel || err != nil || n < 0 {
				return nil, fmt.Errorf("--feature %s: want NAME=LEVEL", f)
			}
			level = int16(n)
		}
		out = append(out, kadm.FeatureUpdate{Feature: name, MaxVersionLevel: level, UpgradeType: upgradeType})
	}
	return out, nil
}
