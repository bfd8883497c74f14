package quorum

import (
	"bytes"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// ProposalID names a proposal of this core, so its caller learns its fate.
// Ids increase from 1 and are never reused by one core.
type ProposalID uint64

// ProposalFate is how a proposal ended.
type ProposalFate int

const (
	// ProposalCommitted: the entry committed at Offset, and is among the
	// Committed batches of the same Ready or an earlier one.
	ProposalCommitted ProposalFate = iota + 1
	// ProposalLeadershipLost: this node stopped leading (or was removed)
	// before the entry committed. Its outcome is unknown here: a later
	// leader may still commit it, and every node then applies it. Kafka
	// answers NOT_CONTROLLER.
	ProposalLeadershipLost
	// ProposalRefused: raft dropped the entry (a membership change it would
	// not take). It will never commit.
	ProposalRefused
)

// String is the fate as logs name it ("committed", ...).
func (f ProposalFate) String() string {
	switch f {
	case ProposalCommitted:
		return "committed"
	case ProposalLeadershipLost:
		return "leadership lost"
	case ProposalRefused:
		return "refused"
	}
	return fmt.Sprintf("fate(%d)", int(f))
}

// ProposalOutcome is the fate of one proposal.
type ProposalOutcome struct {
	ID   ProposalID
	Fate ProposalFate
	// Offset is the metadata offset (raft index) of the committed entry;
	// -1 unless committed.
	Offset int64
}

type proposalKind int

const (
	metadataProposal proposalKind = iota
	membershipProposal
)

type proposal struct {
	id   ProposalID
	kind proposalKind
	data []byte
	// index is the raft index the leader gave the entry; 0 until known.
	index uint64
}

// proposalTracker follows this leader's proposals of one term from Propose
// to their fate. Raft does not say at which index it appended a proposal,
// so the tracker learns it from Ready: with proposal forwarding off, the
// entries of a term are all its leader's, in the order proposed, after the
// empty entry raft appends on election. A membership change raft will not
// take becomes an empty entry in its place.
type proposalTracker struct {
	// term is the term every pending proposal was made in.
	term uint64
	// unindexed await their index, oldest first; indexed await commit, in
	// index order (and so in id order, all older than unindexed).
	unindexed []*proposal
	indexed   []*proposal
}

func (t *proposalTracker) pending() int { return len(t.unindexed) + len(t.indexed) }

// add tracks a proposal raft accepted in term. Pending proposals of an
// earlier term lost their leader: their outcomes are returned.
func (t *proposalTracker) add(p *proposal, term uint64) []ProposalOutcome {
	var lost []ProposalOutcome
	if term != t.term {
		lost = t.dropAll(ProposalLeadershipLost)
		t.term = term
	}
	t.unindexed = append(t.unindexed, p)
	return lost
}

// index gives the pending proposals the indexes of the entries of their
// term that a Ready hands out to be persisted.
func (t *proposalTracker) index(entries []*raftpb.Entry) []ProposalOutcome {
	var refused []ProposalOutcome
	for _, e := range entries {
		if len(t.unindexed) == 0 {
			break
		}
		if e.GetTerm() != t.term {
			continue
		}
		head := t.unindexed[0]
		switch {
		case e.GetType() == raftpb.EntryNormal && len(e.GetData()) == 0:
			if head.kind != membershipProposal {
				continue // the entry raft appends on election
			}
			// Raft replaced a membership change it would not take.
			refused = append(refused, ProposalOutcome{ID: head.id, Fate: ProposalRefused, Offset: -1})
			t.unindexed = t.unindexed[1:]
			continue
		case e.GetType() == raftpb.EntryNormal:
			if head.kind != metadataProposal || !bytes.Equal(head.data, e.GetData()) {
				panic(fmt.Sprintf("quorum: entry %d of term %d is not proposal %d, the next one of this leader", e.GetIndex(), t.term, head.id))
			}
		default:
			if head.kind != membershipProposal {
				panic(fmt.Sprintf("quorum: membership entry %d of term %d is not proposal %d, the next one of this leader", e.GetIndex(), t.term, head.id))
			}
		}
		head.index = e.GetIndex()
		t.indexed = append(t.indexed, head)
		t.unindexed = t.unindexed[1:]
	}
	return refused
}

// committed settles the proposals at or below a committed entry: the one at
// its index committed if the entry is of its term; any other was replaced.
func (t *proposalTracker) committed(e *raftpb.Entry) []ProposalOutcome {
	var out []ProposalOutcome
	for len(t.indexed) > 0 && t.indexed[0].index <= e.GetIndex() {
		p := t.indexed[0]
		t.indexed = t.indexed[1:]
		if p.index == e.GetIndex() && e.GetTerm() == t.term {
			out = append(out, ProposalOutcome{ID: p.id, Fate: ProposalCommitted, Offset: int64(p.index)})
			continue
		}
		out = append(out, ProposalOutcome{ID: p.id, Fate: ProposalLeadershipLost, Offset: -1})
	}
	return out
}

// dropAll ends every pending proposal with fate, oldest first.
func (t *proposalTracker) dropAll(fate ProposalFate) []ProposalOutcome {
	var out []ProposalOutcome
	for _, p := range t.indexed {
		out = append(out, ProposalOutcome{ID: p.id, Fate: fate, Offset: -1})
	}
	for _, p := range t.unindexed {
		out = append(out, ProposalOutcome{ID: p.id, Fate: fate, Offset: -1})
	}
	t.indexed, t.unindexed = nil, nil
	return out
}

// membershipPending says whether a membership change of this leader awaits
// its fate.
func (t *proposalTracker) membershipPending() bool {
	for _, p := range t.indexed {
		if p.kind == membershipProposal {
			return true
		}
	}
	for _, p := range t.unindexed {
		if p.kind == membershipProposal {
			return true
		}
	}
	return false
}
