package sim

import "math/rand/v2"

// The swizzle-clog fault (FoundationDB's swizzle, TigerBeetle's clogged
// links): the links of a few nodes, clogged one by one, hold every message
// to or from them (or, in a quarter of the swizzles each, only what they
// send, or only what they receive); the nodes are then unclogged one by one in another
// order, and each message is delivered, in the order it arrived, once
// neither of its ends is clogged. A clog is a short network outage that
// TCP connections live through: what was sent during it arrives late
// rather than never (a partition loses it), so requests and raft messages
// arrive long after their senders gave up on them. A message whose
// sender's or receiver's node process restarted meanwhile is lost (the
// connection it travelled on is gone), and so is one from a node that lost
// power meanwhile (its kernel resends nothing more) or to or from a client
// that crashed.

// clogged is a message a clog holds, with the processes of its ends.
type clogged struct {
	m                *message
	fromInc, toInc   uint64
	fromBoots        int
	fromNode, toNode *node
}

// clogs are the network's clogged nodes, each with the directions it
// holds (clogIn, clogOut), and the messages they hold.
type clogs struct {
	nodes map[int32]uint8
	queue []clogged
}

// The directions a clogged node holds.
const (
	clogIn  uint8 = 1 // what is sent to it
	clogOut uint8 = 2 // what it sends
)

// holds says a clog holds m.
func (c *clogs) holds(m *message) bool {
	return m.from != m.to && (c.nodes[m.from]&clogOut != 0 || c.nodes[m.to]&clogIn != 0)
}

// hold keeps m if one of its ends is clogged, and says so.
func (n *network) hold(m *message) bool {
	c := &n.clog
	if !c.holds(m) {
		return false
	}
	h := clogged{m: m}
	if m.from < clientBase {
		h.fromNode = n.w.node(m.from)
		h.fromInc, h.fromBoots = h.fromNode.inc, h.fromNode.boots
	}
	if m.to < clientBase {
		h.toNode = n.w.node(m.to)
		h.toInc = h.toNode.inc
	}
	c.queue = append(c.queue, h)
	n.w.stats.MessagesClogged++
	return true
}

// unclog frees node id's links: the messages it held whose other end is
// not clogged are delivered now, in the order they arrived.
func (n *network) unclog(id int32) {
	c := &n.clog
	delete(c.nodes, id)
	kept := c.queue[:0]
	var deliver []*message
	for _, h := range c.queue {
		if c.holds(h.m) {
			kept = append(kept, h)
			continue
		}
		if n.clogLost(h) {
			n.w.stats.MessagesCut++
			continue
		}
		deliver = append(deliver, h.m)
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	for _, m := range deliver {
		n.w.schedule(n.w.now, func() { n.arrive(m) })
	}
}

// clogLost says a held message's connection is gone: a node at one of its
// ends started another process, its sender lost power, or a client at one
// of its ends crashed.
func (n *network) clogLost(h clogged) bool {
	if h.fromNode != nil && (h.fromNode.inc != h.fromInc || h.fromNode.boots != h.fromBoots) || h.toNode != nil && h.toNode.inc != h.toInc {
		return true
	}
	for _, id := range []int32{h.m.from, h.m.to} {
		if id >= clientBase {
			if n.w.clients[id-clientBase].crashed {
				return true
			}
		}
	}
	return false
}

// swizzleClog clogs a few nodes one by one, a step apart, and unclogs them
// one by one in another order after about ClogForMs. One swizzle at a time.
func (f *faultInjector) swizzleClog(r *rand.Rand) {
	w := f.w
	if f.swizzling {
		return
	}
	f.swizzling = true
	k := 1 + r.IntN(len(w.nodes))
	on := r.Perm(len(w.nodes))[:k]
	off := append([]int(nil), on...)
	r.Shuffle(len(off), func(i, j int) { off[i], off[j] = off[j], off[i] })
	stepMs := r.Int64N(1000)
	forMs := 500 + expMs(r, w.profile.ClogForMs)
	// Half the swizzles hold both ways; a quarter only what the nodes
	// send, a quarter only what they receive.
	dirs, dirName := clogIn|clogOut, ""
	switch r.IntN(4) {
	case 0:
		dirs, dirName = clogOut, ", what they send only"
	case 1:
		dirs, dirName = clogIn, ", what they receive only"
	}
	ids := make([]int32, 0, k)
	for _, i := range on {
		ids = append(ids, w.nodes[i].id)
	}
	w.stats.Clogs++
	w.timelinef("fault: swizzle-clog %s, %dms apart, held for %dms%s", idList(ids), stepMs, forMs, dirName)
	for j, i := range on {
		n := w.nodes[i]
		w.schedule(w.now+int64(j)*stepMs, func() {
			if !f.swizzling {
				return // healed
			}
			w.net.clog.nodes[n.id] = dirs
			w.tracef("fault: %s clogged", n.name())
			w.rec.begin(w.now, "clog", n.name(), "clogged: messages held")
		})
	}
	start := w.now + int64(k-1)*stepMs + forMs
	for j, i := range off {
		n := w.nodes[i]
		last := j == len(off)-1
		w.schedule(start+int64(j)*stepMs, func() {
			if !f.swizzling {
				return // healed
			}
			w.net.unclog(n.id)
			w.tracef("fault: %s unclogged", n.name())
			w.rec.end(w.now, "clog", n.name())
			if last {
				f.swizzling = false
			}
		})
	}
}

// unclogAll ends the swizzle under way, if any: every held message is
// delivered (or lost with its connection).
func (f *faultInjector) unclogAll() {
	f.swizzling = false
	ids := make([]int32, 0, len(f.w.net.clog.nodes))
	for _, n := range f.w.nodes {
		if f.w.net.clog.nodes[n.id] != 0 {
			ids = append(ids, n.id)
		}
	}
	for _, id := range ids {
		f.w.net.unclog(id)
	}
	if len(ids) > 0 {
		f.w.timelinef("heal: %d clogged nodes deliver what they held", len(ids))
	}
}
