package groups

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// Replies wait for records, as in Kafka's coordinator runtime: an answer
// may tell of state that records not yet acknowledged made (a new group
// epoch, an assignment, an offset), its own records or earlier ones, so it
// is held until every append asked before it is acknowledged. Otherwise a
// member could be told an epoch that a failover loses, and the next
// coordinator would hand the same epoch out again with another assignment.
// When an append fails, the state ahead of the partition cannot be told
// apart from the rest, so the coordinator reverts: the failed append's
// requests get its mapped error, every other request it owes
// NOT_COORDINATOR (the client finds the coordinator again and retries), and
// the shell starts a new coordinator from the partition (Ready.Reload).

// heldReply is a reply waiting until the appends up to barrier are
// acknowledged.
type heldReply struct {
	reply   Reply
	barrier internaltopic.AppendID
}

// reply answers request id once every append asked so far is
// acknowledged; after a failed append (the failed append's own answers),
// at once.
func (c *Coordinator) reply(id internaltopic.RequestID, resp kmsg.Response) {
	r := Reply{ID: id, Response: resp}
	if c.failed || len(c.held) == 0 && c.nextAppendID <= c.acknowledged {
		c.release(r)
		return
	}
	c.held = append(c.held, heldReply{reply: r, barrier: c.nextAppendID})
}

// release hands a reply to the shell.
func (c *Coordinator) release(r Reply) {
	delete(c.owed, r.ID)
	c.ready.Replies = append(c.ready.Replies, r)
}

// releaseHeld releases, in order, the held replies whose appends are all
// acknowledged.
func (c *Coordinator) releaseHeld() {
	n := 0
	for _, h := range c.held {
		if h.barrier > c.acknowledged {
			break
		}
		c.release(h.reply)
		n++
	}
	c.held = c.held[n:]
}

// advanceAcknowledged moves acknowledged past the appends reported done.
func (c *Coordinator) advanceAcknowledged() {
	for c.acknowledged < c.nextAppendID {
		if _, pending := c.appending[c.acknowledged+1]; pending {
			return
		}
		c.acknowledged++
	}
}

// failedAnswer is an append's done for a request whose answer was already
// given (held): when the append fails, the request is answered with the
// append's mapped error instead.
func (c *Coordinator) failedAnswer(id internaltopic.RequestID, req kmsg.Request) func(code int16, now internaltopic.Time) {
	return func(code int16, _ internaltopic.Time) {
		if code != 0 {
			c.reply(id, ErrorResponse(req, storeErrorCode(code)))
		}
	}
}

// revert ends the coordinator after a failed append: no more appends, and
// every request still owed (held answers included) is told
// NOT_COORDINATOR; the shell reloads.
func (c *Coordinator) revert() {
	c.reverted = true
	c.ready.Appends = nil
	ids := make([]internaltopic.RequestID, 0, len(c.owed))
	for id := range c.owed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.release(Reply{ID: id, Response: ErrorResponse(c.owed[id], kerr.NotCoordinator.Code)})
	}
	c.held, c.appending, c.refusable = nil, map[internaltopic.AppendID]func(int16, internaltopic.Time){}, map[internaltopic.AppendID]bool{}
	c.ready.Reload = true
}
