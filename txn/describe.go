package txn

import (
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// shownState is the state DescribeTransactions and ListTransactions show:
// the durable one (a completion that waits is appended before either
// answers, completeFirst).
func (t *txnMeta) shownState() State {
	if t.fencing {
		return PrepareEpochFence
	}
	return t.state
}

// describeTransactions answers DescribeTransactions for the ids this
// coordinator holds (unknown ones: TRANSACTIONAL_ID_NOT_FOUND).
func (c *Coordinator) describeTransactions(r *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	resp.Version = r.Version
	for _, id := range r.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.ProducerEpoch, s.StartTimestamp = id, -1, -1, -1
		t := c.txns[id]
		if t == nil {
			s.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		// The start stays that of the last transaction once it completed,
		// as Kafka's does; InitProducerId clears it (-1).
		s.State, s.TimeoutMillis, s.ProducerID, s.ProducerEpoch = t.shownState().String(), t.timeoutMs, t.producerID, t.epoch
		s.StartTimestamp = t.startWallMs
		for _, tp := range t.partitions {
			if n := len(s.Topics); n == 0 || s.Topics[n-1].Topic != tp.Topic {
				st := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				st.Topic = tp.Topic
				s.Topics = append(s.Topics, st)
			}
			last := &s.Topics[len(s.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp
}

// listTransactions answers ListTransactions with this coordinator's
// transactional ids that pass the filters: states, producer ids, running
// longer than DurationFilterMillis (v1), ids matching a pattern (v2). As
// Kafka, the duration filter reads every state's start time: that of the
// transaction Ongoing or ending, of the last one once complete, and -1 for an
// id that began none since InitProducerId (Empty), which passes any filter.
func (c *Coordinator) listTransactions(r *kmsg.ListTransactionsRequest, now internaltopic.Time) *kmsg.ListTransactionsResponse {
	resp := kmsg.NewPtrListTransactionsResponse()
	resp.Version = r.Version
	states := map[State]bool{}
	for _, name := range r.StateFilters {
		if s, ok := StateNamed(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	if len(r.StateFilters) > 0 && len(states) == 0 {
		return resp // only unknown states asked for: nothing matches
	}
	var pattern *regexp.Regexp
	if r.Version >= 2 && r.TransactionalIDPattern != nil && *r.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile(*r.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	for _, t := range c.sorted() {
		switch {
		case len(states) > 0 && !states[t.shownState()]:
		case len(r.ProducerIDFilters) > 0 && !slices.Contains(r.ProducerIDFilters, t.producerID):
		case r.Version >= 1 && r.DurationFilterMillis >= 0 && now.WallMs-t.startWallMs <= r.DurationFilterMillis:
		case pattern != nil && !pattern.MatchString(t.id):
		default:
			s := kmsg.NewListTransactionsResponseTransactionState()
			s.TransactionalID, s.ProducerID, s.TransactionState = t.id, t.producerID, t.shownState().String()
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
	}
	return resp
}
