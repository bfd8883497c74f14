package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// newTopicAddPartitionsCommand adds partitions to topics (CreatePartitions),
// as kafka-topics --alter --partitions N does: --partitions is the count
// each topic is to have, --add how many more each gets.
func newTopicAddPartitionsCommand(opts *adminOptions) *cobra.Command {
	var total, more int
	var validateOnly bool
	cmd := &cobra.Command{
		Use:   "add-partitions TOPIC...",
		Short: "Add partitions to topics (as kafka-topics --alter --partitions)",
		Long: `Add partitions to topics: --partitions N gives each topic N partitions in
all (as kafka-topics --alter --partitions N), --add N gives each N more.
Partitions are never removed: a count below a topic's current one fails
with INVALID_PARTITIONS. Records of a key may go to another partition
afterwards, as in Kafka.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if (total > 0) == (more > 0) {
				return usageError(cmd, errors.New("give either --partitions N (the new count) or --add N (how many more)"))
			}
			return opts.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				update, create := adm.UpdatePartitions, adm.CreatePartitions
				if validateOnly {
					update, create = adm.ValidateUpdatePartitions, adm.ValidateCreatePartitions
				}
				var resps kadm.CreatePartitionsResponses
				var err error
				if total > 0 {
					resps, err = update(ctx, total, topics...)
				} else {
					resps, err = create(ctx, more, topics...)
				}
				if err != nil {
					return fmt.Errorf("add partitions: %w", err)
				}
				results := make([]topicResult, 0, len(resps))
				for _, r := range resps.Sorted() {
					results = append(results, topicResult{topic: r.Topic, err: r.Err, message: r.ErrMessage})
				}
				return writeTopicResults(cmd.OutOrStdout(), "add-partitions", results)
			})
		},
	}
	cmd.Flags().IntVarP(&total, "partitions", "p", 0, "the number of partitions each topic is to have (as kafka-topics --alter --partitions)")
	cmd.Flags().IntVar(&more, "add", 0, "how many partitions to add to each topic")
	cmd.Flags().BoolVar(&validateOnly, "validate-only", false, "only check that the brokers would accept it")
	acceptTopicFlag(cmd)
	return cmd
}
