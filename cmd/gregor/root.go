package main

import (
	"github.com/spf13/cobra"
)

// newRootCommand builds the gregor command tree. Every call returns a fresh
// tree, so tests can run commands side by side with their own flags, input
// and output.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gregor",
		Short:         "A Kafka-compatible streaming broker built as an actor system",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCommand(),
		newTopicCommand(),
		newProduceCommand(),
		newConsumeCommand(),
		newGroupCommand(),
		newTxnCommand(),
		newFeaturesCommand(),
		newPerfCommand(),
		newClusterCommand(),
		newSimCommand(),
	)
	return root
}
