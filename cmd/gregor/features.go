package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newFeaturesCommand is gregor's kafka-features: it shows the cluster's
// feature levels (KIP-584) and moves them with UpdateFeatures.
func newFeaturesCommand() *cobra.Command {
	opts := &adminOptions{}
	cmd := &cobra.Command{
		Use:   "features",
		Short: "Show and change the cluster's finalized feature levels (transaction.version, eligible.leader.replicas.version, ...)",
	}
	opts.register(cmd, "")
	cmd.AddCommand(
		newFeaturesDescribeCommand(opts),
		newFeaturesUpdateCommand(opts, "upgrade", "Raise features to the levels named (refused while a broker does not support a level)"),
		newFeaturesUpdateCommand(opts, "downgrade", "Lower features to the levels named (--unsafe for a lossy downgrade)"),
		newFeaturesUpdateCommand(opts, "disable", "Lower the features named to level 0, as before they existed"),
	)
	return cmd
}

func newFeaturesDescribeCommand(opts *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe",
		Short: "List the features the broker supports, with the level the cluster finalized",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
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
func newFeaturesUpdateCommand(opts *adminOptions, verb, short string) *cobra.Command {
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
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				levels, err := updateFeatures(ctx, cl, opts.timeout, dryRun, updates)
				if err != nil {
					return err
				}
				for _, u := range updates {
					if dryRun {
						fmt.Fprintf(cmd.OutOrStdout(), "%s can be moved to level %d\n", u.Feature, levels[u.Feature])
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "%s is at level %d\n", u.Feature, levels[u.Feature])
					}
				}
				return nil
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

// updateFeatures sends one UpdateFeatures of updates to the controller and
// returns each feature's new level. A refusal carries the controller's
// reason (kadm's UpdateFeatures keeps only the error code, which says
// nothing of why: the level a broker lacks, the levels the controller
// supports, a downgrade without its flag).
func updateFeatures(ctx context.Context, cl *kgo.Client, timeout time.Duration, dryRun bool, updates []kadm.FeatureUpdate) (map[string]int16, error) {
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.TimeoutMillis = int32(min(timeout.Milliseconds(), math.MaxInt32))
	req.ValidateOnly = dryRun
	for _, u := range updates {
		r := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		r.Feature, r.MaxVersionLevel, r.UpgradeType = u.Feature, u.MaxVersionLevel, u.UpgradeType
		r.AllowDowngrade = u.UpgradeType != 1 // v0's form of a downgrade
		req.FeatureUpdates = append(req.FeatureUpdates, r)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("update features: %w", err)
	}
	if err := featureError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, fmt.Errorf("update features: %w", err)
	}
	var failed []error
	for _, r := range resp.Results { // v0 and v1 answer each feature
		if err := featureError(r.ErrorCode, r.ErrorMessage); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", r.Feature, err))
		}
	}
	if len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	levels := map[string]int16{}
	for _, u := range updates {
		levels[u.Feature] = u.MaxVersionLevel
	}
	return levels, nil
}

// featureError is an UpdateFeatures error code with the controller's
// message, which says why, in place of the code's generic description.
func featureError(code int16, message *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if message != nil && *message != "" && errors.As(err, &ke) {
		return fmt.Errorf("%s: %s", ke.Message, *message)
	}
	return err
}
