package groups

import (
	"slices"

	"gregor/logstore/internaltopic"
)

// Topic is what the coordinator knows of a topic from the metadata image.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// topicTable is the coordinator's view of the topics.
type topicTable struct {
	byName map[string]Topic
	byID   map[[16]byte]string
	names  []string // sorted
}

func newTopicTable(topics []Topic) topicTable {
	t := topicTable{byName: make(map[string]Topic, len(topics)), byID: make(map[[16]byte]string, len(topics))}
	for _, tp := range topics {
		t.byName[tp.Name] = tp
		t.byID[tp.ID] = tp.Name
		t.names = append(t.names, tp.Name)
	}
	slices.Sort(t.names)
	return t
}

func (t *topicTable) nameOf(id [16]byte) (string, bool) {
	name, ok := t.byID[id]
	return name, ok
}

// SetTopics tells the coordinator the topics of the metadata image, at time
// now. Offsets of topics that disappeared, or whose id changed, are
// deleted (so are those a load brought of such topics: Loaded); consumer
// groups react to new partitions and topics on their members' next
// heartbeats.
func (c *Coordinator) SetTopics(topics []Topic, now internaltopic.Time) {
	next := newTopicTable(topics)
	var deleted []string
	for _, name := range c.topics.names {
		// A topic deleted and created again under its name between two
		// images has a new id: the old topic's offsets go all the same.
		if nt, ok := next.byName[name]; !ok || nt.ID != c.topics.byName[name].ID {
			deleted = append(deleted, name)
		}
	}
	changed := len(deleted) > 0 || len(next.names) != len(c.topics.names)
	if !changed {
		for _, name := range next.names {
			if old, ok := c.topics.byName[name]; !ok || old != next.byName[name] {
				changed = true
				break
			}
		}
	}
	c.topics = next
	// The first table: a core loaded before it was told the topics checks
	// what it loaded now.
	first := !c.topicsKnown
	c.topicsKnown = true
	if len(deleted) > 0 || first {
		c.dropStaleOffsets(deleted)
	}
	if changed {
		c.topicsChanged(now)
	}
}
