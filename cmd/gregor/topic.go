package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicCommand() *cobra.Command {
	opts := &adminOptions{}
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, delete, configure topics and add partitions",
	}
	opts.register(cmd, "topic")
	cmd.AddCommand(
		newTopicCreateCommand(opts),
		newTopicListCommand(opts),
		newTopicDescribeCommand(opts),
		newTopicDeleteCommand(opts),
		newTopicAlterConfigCommand(opts),
		newTopicAddPartitionsCommand(opts),
	)
	return cmd
}

func newTopicCreateCommand(opts *adminOptions) *cobra.Command {
	var (
		partitions  int32
		replicas    int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			topicConfigs, err := parseTopicConfigs(configs)
			if err != nil {
				return err
			}
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.CreateTopics(ctx, partitions, replicas, topicConfigs, topics...)
				if err != nil {
					return fmt.Errorf("create topics: %w", err)
				}
				results := make([]topicResult, 0, len(resps))
				for _, r := range resps {
					results = append(results, topicResult{topic: r.Topic, err: r.Err, message: r.ErrMessage})
				}
				if ifNotExists {
					tolerate(results, kerr.TopicAlreadyExists, "already exists")
				}
				return writeTopicResults(cmd.OutOrStdout(), "create", results)
			})
		},
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partitions per topic (-1: the broker's num.partitions)")
	cmd.Flags().Int16VarP(&replicas, "replicas", "r", -1, "replication factor (-1: the broker's default.replication.factor)")
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	cmd.Flags().BoolVar(&ifNotExists, "if-not-exists", false, "a topic that exists already is no failure (as kafka-topics --if-not-exists)")
	acceptTopicFlag(cmd)
	return cmd
}

// parseTopicConfigs reads key=value pairs into kadm's config map.
func parseTopicConfigs(pairs []string) (map[string]*string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	configs := make(map[string]*string, len(pairs))
	for _, pair := range pairs {
		key, value, found := strings.Cut(pair, "=")
		if !found || strings.TrimSpace(key) == "" {
			return nil, fmt.Errorf("topic config %q: want key=value", pair)
		}
		configs[strings.TrimSpace(key)] = kadm.StringPtr(value)
	}
	return configs, nil
}

// topicResult is the outcome of a per-topic request.
type topicResult struct {
	topic   string
	err     error
	message string
}

// tolerate makes the results whose error is want succeed, noting why, as
// Kafka's kafka-topics --if-not-exists and --if-exists do.
func tolerate(results []topicResult, want error, note string) {
	for i, r := range results {
		if errors.Is(r.err, want) {
			results[i] = topicResult{topic: r.topic, message: note}
		}
	}
}

// writeTopicResults prints one line per topic, sorted, and returns an error
// if any topic failed.
func writeTopicResults(out io.Writer, verb string, results []topicResult) error {
	sort.Slice(results, func(i, j int) bool { return results[i].topic < results[j].topic })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tSTATUS")
	failed := 0
	for _, r := range results {
		status := "OK"
		if r.err == nil && r.message != "" {
			status += " (" + r.message + ")"
		}
		if r.err != nil {
			failed++
			status = r.err.Error()
			// The broker's message says why; the code's description
			// ("Configuration is invalid.") only repeats the code.
			if ke := (*kerr.Error)(nil); r.message != "" && errors.As(r.err, &ke) {
				status = ke.Message + ": " + r.message
			} else if errors.Is(r.err, kerr.UnknownTopicOrPartition) {
				status = noSuchTopic
			} else if r.message != "" {
				status += ": " + r.message
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", r.topic, status)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d topics failed", verb, failed, len(results))
	}
	return nil
}

func newTopicListCommand(opts *adminOptions) *cobra.Command {
	var excludeInternal, internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics, internal ones (__consumer_offsets, __transaction_state) too unless --exclude-internal",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				list := adm.ListTopicsWithInternal
				if excludeInternal {
					list = adm.ListTopics
				}
				details, err := list(ctx)
				if err != nil {
					return fmt.Errorf("list topics: %w", err)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPARTITIONS\tREPLICAS")
				for _, d := range details.Sorted() {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", d.Topic, len(d.Partitions), replicationFactor(d))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&excludeInternal, "exclude-internal", false, "leave out internal topics (as kafka-topics --list --exclude-internal)")
	// --internal (-i) asked for internal topics when they were left out by
	// default; it is accepted still and changes nothing.
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics")
	_ = cmd.Flags().MarkDeprecated("internal", "internal topics are listed by default now; --exclude-internal leaves them out")
	return cmd
}

// replicationFactor is the replica count of a topic's first partition.
func replicationFactor(d kadm.TopicDetail) int {
	for _, p := range d.Partitions.Sorted() {
		return len(p.Replicas)
	}
	return 0
}

func newTopicDeleteCommand(opts *adminOptions) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, topics...)
				if err != nil {
					return fmt.Errorf("delete topics: %w", err)
				}
				results := make([]topicResult, 0, len(resps))
				for _, r := range resps {
					results = append(results, topicResult{topic: r.Topic, err: r.Err, message: r.ErrMessage})
				}
				if ifExists {
					tolerate(results, kerr.UnknownTopicOrPartition, "no such topic")
				}
				return writeTopicResults(cmd.OutOrStdout(), "delete", results)
			})
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "a topic that does not exist is no failure (as kafka-topics --if-exists)")
	acceptTopicFlag(cmd)
	return cmd
}

func newTopicAlterConfigCommand(opts *adminOptions) *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC...",
		Short: "Set or delete topic configs (incrementally)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			alters, err := topicConfigAlterations(sets, deletes)
			if err != nil {
				return err
			}
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.AlterTopicConfigs(ctx, alters, topics...)
				if err != nil {
					return fmt.Errorf("alter topic configs: %w", err)
				}
				results := make([]topicResult, 0, len(resps))
				for _, r := range resps {
					results = append(results, topicResult{topic: r.Name, err: r.Err, message: r.ErrMessage})
				}
				return writeTopicResults(cmd.OutOrStdout(), "alter-config", results)
			})
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "set a config, key=value (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "delete a config, returning it to the default (repeatable)")
	acceptTopicFlag(cmd)
	return cmd
}

// topicConfigAlterations turns --set and --delete into kadm alterations.
func topicConfigAlterations(sets, deletes []string) ([]kadm.AlterConfig, error) {
	if len(sets) == 0 && len(deletes) == 0 {
		return nil, errors.New("alter-config: give at least one --set key=value or --delete key")
	}
	alters := make([]kadm.AlterConfig, 0, len(sets)+len(deletes))
	for _, s := range sets {
		key, value, found := strings.Cut(s, "=")
		if !found || strings.TrimSpace(key) == "" {
			return nil, fmt.Errorf("--set %q: want key=value", s)
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: strings.TrimSpace(key), Value: kadm.StringPtr(value)})
	}
	for _, key := range deletes {
		if strings.TrimSpace(key) == "" {
			return nil, errors.New("--delete: want a config key")
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: strings.TrimSpace(key)})
	}
	// A broker refuses a request that changes a config twice
	// (INVALID_REQUEST, as Kafka's): say which flags did.
	given := make(map[string]bool, len(alters))
	for _, a := range alters {
		if given[a.Name] {
			return nil, fmt.Errorf("alter-config: %s is given more than once (--set, --delete): change a config once per request", a.Name)
		}
		given[a.Name] = true
	}
	return alters, nil
}

func newTopicDescribeCommand(opts *adminOptions) *cobra.Command {
	var excludeInternal bool
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Show a topic's summary, configs and partitions (every topic's without one, as kafka-topics --describe)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, topics []string) error {
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				if len(topics) == 0 {
					list := kadm.NewClient(cl).ListTopicsWithInternal
					if excludeInternal {
						list = kadm.NewClient(cl).ListTopics
					}
					listed, err := list(ctx)
					if err != nil {
						return fmt.Errorf("list topics: %w", err)
					}
					if topics = listed.Names(); len(topics) == 0 {
						fmt.Fprintln(cmd.OutOrStdout(), "no topics (gregor topic create makes one)")
						return nil
					}
					sort.Strings(topics)
				}
				return describeTopics(ctx, cl, cmd.OutOrStdout(), topics)
			})
		},
	}
	cmd.Flags().BoolVar(&excludeInternal, "exclude-internal", false, "without a topic named, leave out internal topics (as kafka-topics --describe --exclude-internal)")
	acceptTopicFlag(cmd)
	return cmd
}

// topicDescription gathers what describe prints about existing topics.
type topicDescription struct {
	details kadm.TopicDetails
	configs kadm.ResourceConfigs
	starts  kadm.ListedOffsets
	ends    kadm.ListedOffsets
	// eligible are the partitions' eligible leader replicas, nil where
	// the broker could not tell them.
	eligible map[string]map[int32]eligibleReplicas
}

// describeTopics prints each topic in turn, and fails if any is missing.
func describeTopics(ctx context.Context, cl *kgo.Client, out io.Writer, topics []string) error {
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	var existing []string
	for _, name := range topics {
		if d, ok := details[name]; ok && d.Err == nil {
			existing = append(existing, name)
		}
	}
	desc := topicDescription{details: details}
	if len(existing) > 0 {
		if desc.configs, err = adm.DescribeTopicConfigs(ctx, existing...); err != nil {
			return fmt.Errorf("describe topic configs: %w", err)
		}
		if desc.starts, err = partialOffsets(adm.ListStartOffsets(ctx, existing...)); err != nil {
			return fmt.Errorf("list log start offsets: %w", err)
		}
		if desc.ends, err = partialOffsets(adm.ListEndOffsets(ctx, existing...)); err != nil {
			return fmt.Errorf("list high watermarks: %w", err)
		}
		desc.eligible = describeEligible(ctx, cl, existing)
	}
	missing := 0
	for i, name := range topics {
		if i > 0 {
			fmt.Fprintln(out)
		}
		d, ok := details[name]
		if !ok || d.Err != nil {
			missing++
			fmt.Fprintf(out, "%s: %v\n", name, describeErr(d, ok))
			continue
		}
		if err := desc.write(out, d); err != nil {
			return err
		}
	}
	if missing > 0 {
		return fmt.Errorf("describe: %d of %d topics could not be described", missing, len(topics))
	}
	return nil
}

func describeErr(d kadm.TopicDetail, found bool) error {
	if !found {
		return errors.New("not in the metadata response")
	}
	if errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return errors.New(noSuchTopic)
	}
	return d.Err
}

// noSuchTopic stands for UNKNOWN_TOPIC_OR_PARTITION's own text ("This server
// does not host this topic-partition", which reads as a wrong broker) where a
// topic named by the user does not exist.
const noSuchTopic = "UNKNOWN_TOPIC_OR_PARTITION: no such topic (gregor topic list shows the topics there are)"

// write prints one topic's summary, configs and partitions.
func (desc topicDescription) write(out io.Writer, d kadm.TopicDetail) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\t%s\n", d.Topic)
	fmt.Fprintf(tw, "ID\t%s\n", kafkaTopicID(d.ID))
	fmt.Fprintf(tw, "INTERNAL\t%t\n", d.IsInternal)
	fmt.Fprintf(tw, "PARTITIONS\t%d\n", len(d.Partitions))
	fmt.Fprintf(tw, "REPLICAS\t%d\n", replicationFactor(d))
	fmt.Fprintln(tw, "\nCONFIG\tVALUE\tSOURCE")
	if rc, err := desc.configs.On(d.Topic, nil); err != nil || rc.Err != nil {
		fmt.Fprintf(tw, "(unavailable: %v)\t\t\n", errors.Join(err, rc.Err))
	} else {
		sort.Slice(rc.Configs, func(i, j int) bool { return rc.Configs[i].Key < rc.Configs[j].Key })
		for _, c := range rc.Configs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Key, c.MaybeValue(), c.Source)
		}
	}
	fmt.Fprintln(tw, "\nPARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tOFFLINE\tELR\tLAST-KNOWN-ELR\tLOG-START-OFFSET\tHIGH-WATERMARK")
	for _, p := range d.Partitions.Sorted() {
		elr, lastKnown := desc.eligibleText(d.Topic, p.Partition)
		offline := p.OfflineReplicas
		if offline == nil {
			offline = []int32{}
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%v\t%v\t%v\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, offline, elr, lastKnown,
			listedOffsetText(desc.starts, d.Topic, p.Partition), listedOffsetText(desc.ends, d.Topic, p.Partition))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write description: %w", err)
	}
	return nil
}

// kafkaTopicID writes a topic ID as Kafka's tools do (Uuid.toString: URL-safe
// base64 without padding), not as kadm's String (standard, padded).
func kafkaTopicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// partialOffsets keeps the offsets the reachable leaders listed when others
// could not be asked (a broker down, as while a node restarts): each
// partition of a failed broker gets that broker's error, which describe
// prints in its place, instead of the whole description failing. It fails
// only when no broker answered.
func partialOffsets(list kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	var shards *kadm.ShardErrors
	if err == nil || !errors.As(err, &shards) || shards.AllFailed {
		return list, err
	}
	for _, shard := range shards.Errs {
		req, ok := shard.Req.(*kmsg.ListOffsetsRequest)
		if !ok {
			return list, err
		}
		failed := fmt.Errorf("broker %d: %w", shard.Broker.NodeID, shard.Err)
		for _, t := range req.Topics {
			if list[t.Topic] == nil {
				list[t.Topic] = map[int32]kadm.ListedOffset{}
			}
			for _, p := range t.Partitions {
				list[t.Topic][p.Partition] = kadm.ListedOffset{Topic: t.Topic, Partition: p.Partition, Offset: -1, Err: failed}
			}
		}
	}
	return list, nil
}

// listedOffsetText prints a listed offset, or its error.
func listedOffsetText(offsets kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := offsets.Lookup(topic, partition)
	switch {
	case !ok:
		return "-"
	case errors.Is(o.Err, syscall.ECONNREFUSED):
		return "unknown (leader down)"
	case o.Err != nil:
		return o.Err.Error()
	}
	return fmt.Sprint(o.Offset)
}
