package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gregor",
		Short:         "A Kafka-compatible streaming broker built as an actor system",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "serve",
		Short: "Run a broker node",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("the broker is not built yet (it comes with the single-node broker issue)")
		},
	})
	return root
}
