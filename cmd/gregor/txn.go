package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTxnCommand() *cobra.Command {
	opts := &adminOptions{}
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "List and describe transactional producers' transactions",
	}
	opts.register(cmd, "")
	cmd.AddCommand(newTxnListCommand(opts), newTxnDescribeCommand(opts))
	return cmd
}

func newTxnListCommand(opts *adminOptions) *cobra.Command {
	var states []string
	var pids []int64
	var longer time.Duration
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List transactional ids with their producer ids and transaction states",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				req := kmsg.NewPtrListTransactionsRequest()
				req.StateFilters, req.ProducerIDFilters = states, pids
				if longer > 0 {
					req.DurationFilterMillis = longer.Milliseconds()
				}
				var listed []kmsg.ListTransactionsResponseTransactionState
				for _, shard := range cl.RequestSharded(ctx, req) {
					if shard.Err != nil {
						return fmt.Errorf("list transactions on broker %d: %w", shard.Meta.NodeID, shard.Err)
					}
					resp := shard.Resp.(*kmsg.ListTransactionsResponse)
					if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
						return fmt.Errorf("list transactions on broker %d: %w", shard.Meta.NodeID, err)
					}
					listed = append(listed, resp.TransactionStates...)
				}
				sort.Slice(listed, func(i, j int) bool { return listed[i].TransactionalID < listed[j].TransactionalID })
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TRANSACTIONAL-ID\tPRODUCER-ID\tSTATE")
				for _, s := range listed {
					fmt.Fprintf(tw, "%s\t%d\t%s\n", s.TransactionalID, s.ProducerID, s.TransactionState)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "list only transactions in these states (Ongoing, PrepareCommit, CompleteAbort, ...)")
	cmd.Flags().Int64SliceVar(&pids, "producer-id", nil, "list only these producer ids")
	cmd.Flags().DurationVar(&longer, "running-longer-than", 0,
		"list only transactional ids whose last transaction started longer ago than this, in any state, as Kafka's duration filter "+
			"(Empty ids, which began none, always pass; add --state Ongoing for the open ones)")
	return cmd
}

func newTxnDescribeCommand(opts *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Show a transactional id's producer id and epoch, timeout, transaction state and partitions",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			return opts.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error {
				req := kmsg.NewPtrDescribeTransactionsRequest()
				req.TransactionalIDs = ids
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return fmt.Errorf("describe transactions: %w", err)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TRANSACTIONAL-ID\tPRODUCER-ID\tEPOCH\tSTATE\tTIMEOUT\tSTARTED\tPARTITIONS")
				var failed error
				for _, s := range resp.TransactionStates {
					if err := kerr.ErrorForCode(s.ErrorCode); err != nil {
						fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t-\t-\n", s.TransactionalID, err)
						if failed == nil {
							failed = fmt.Errorf("describe %s: %w", s.TransactionalID, err)
						}
						continue
					}
					started := "-"
					if s.StartTimestamp >= 0 {
						started = time.UnixMilli(s.StartTimestamp).UTC().Format(time.RFC3339)
					}
					var parts []string
					for _, t := range s.Topics {
						for _, p := range t.Partitions {
							parts = append(parts, fmt.Sprintf("%s[%d]", t.Topic, p))
						}
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.TransactionalID, s.ProducerID, s.ProducerEpoch, s.State,
						time.Duration(s.TimeoutMillis)*time.Millisecond, started, orDash(strings.Join(parts, ",")))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				return failed
			})
		},
	}
}
