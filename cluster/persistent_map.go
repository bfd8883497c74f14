package cluster

import (
	"cmp"
	"fmt"
	"iter"
	"math"
)

// PersistentMap is an immutable ordered map: Set and Delete return a new map
// and leave the old one as it was, copying only the O(log n) nodes on the
// path to the key and sharing every other node. It is a treap whose node
// priorities are a hash of the key, so a key set has exactly one shape
// whatever the order of the operations that built it; Diff relies on that to
// skip the subtrees two versions share and costs O(changes × log n).
//
// The zero value is the empty map. Values are stored as given: a map of
// pointers or slices shares what they point to between versions, so treat
// them as immutable.
type PersistentMap[K cmp.Ordered, V any] struct {
	root *pmapNode[K, V]
	size int
}

type pmapNode[K cmp.Ordered, V any] struct {
	key         K
	val         V
	priority    uint64
	left, right *pmapNode[K, V]
}

// above says whether a belongs above b: higher priority first, and the
// smaller key on a tie, so priorities form a strict total order.
func (a *pmapNode[K, V]) above(b *pmapNode[K, V]) bool {
	return a.priority > b.priority || a.priority == b.priority && a.key < b.key
}

// Len is the number of keys.
func (m PersistentMap[K, V]) Len() int { return m.size }

// Get returns the value of k.
func (m PersistentMap[K, V]) Get(k K) (V, bool) {
	n := m.root
	for n != nil {
		switch c := cmp.Compare(k, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// Set returns the map with k set to v.
func (m PersistentMap[K, V]) Set(k K, v V) PersistentMap[K, V] {
	root, added := pmapInsert(m.root, &pmapNode[K, V]{key: k, val: v, priority: keyPriority(k)})
	if added {
		m.size++
	}
	return PersistentMap[K, V]{root: root, size: m.size}
}

// Delete returns the map without k.
func (m PersistentMap[K, V]) Delete(k K) PersistentMap[K, V] {
	root, removed := pmapDelete(m.root, k)
	if !removed {
		return m
	}
	return PersistentMap[K, V]{root: root, size: m.size - 1}
}

// All yields every key and value in key order.
func (m PersistentMap[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) { pmapWalk(m.root, yield) }
}

// Keys yields every key in order.
func (m PersistentMap[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		pmapWalk(m.root, func(k K, _ V) bool { return yield(k) })
	}
}

// MapChange is one key whose entry differs between two versions of a map.
type MapChange[K cmp.Ordered, V any] struct {
	Key K
	// Old is the value in the older version, when InOld.
	Old   V
	InOld bool
	// New is the value in the newer version, when InNew.
	New   V
	InNew bool
}

// Diff yields, in key order, every key added, removed, or whose value changed
// (same says two values are equal) from old to m. Subtrees the two versions
// share are skipped without being visited.
func (m PersistentMap[K, V]) Diff(old PersistentMap[K, V], same func(a, b V) bool) iter.Seq[MapChange[K, V]] {
	return func(yield func(MapChange[K, V]) bool) { pmapDiff(old.root, m.root, same, yield) }
}

// pmapInsert returns n with x in it; n is not changed. x is a fresh node the
// result may take over.
func pmapInsert[K cmp.Ordered, V any](n, x *pmapNode[K, V]) (*pmapNode[K, V], bool) {
	if n == nil {
		return x, true
	}
	c := cmp.Compare(x.key, n.key)
	if c == 0 {
		cp := *n
		cp.val = x.val
		return &cp, false
	}
	cp := *n
	var added bool
	if c < 0 {
		cp.left, added = pmapInsert(n.left, x)
		if cp.left.above(&cp) {
			// Rotate right; cp.left is a fresh copy, so changing it is safe.
			l := cp.left
			cp.left, l.right = l.right, &cp
			return l, added
		}
	} else {
		cp.right, added = pmapInsert(n.right, x)
		if cp.right.above(&cp) {
			r := cp.right
			cp.right, r.left = r.left, &cp
			return r, added
		}
	}
	return &cp, added
}

func pmapDelete[K cmp.Ordered, V any](n *pmapNode[K, V], k K) (*pmapNode[K, V], bool) {
	if n == nil {
		return nil, false
	}
	c := cmp.Compare(k, n.key)
	if c == 0 {
		return pmapMerge(n.left, n.right), true
	}
	cp := *n
	var removed bool
	if c < 0 {
		cp.left, removed = pmapDelete(n.left, k)
	} else {
		cp.right, removed = pmapDelete(n.right, k)
	}
	if !removed {
		return n, false
	}
	return &cp, true
}

// pmapMerge joins two treaps whose keys are all smaller in a than in b.
func pmapMerge[K cmp.Ordered, V any](a, b *pmapNode[K, V]) *pmapNode[K, V] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.above(b):
		cp := *a
		cp.right = pmapMerge(a.right, b)
		return &cp
	default:
		cp := *b
		cp.left = pmapMerge(a, b.left)
		return &cp
	}
}

// pmapSplit returns the treaps of n's keys below k and above k (k itself is
// dropped); n is not changed.
func pmapSplit[K cmp.Ordered, V any](n *pmapNode[K, V], k K) (lo, hi *pmapNode[K, V]) {
	if n == nil {
		return nil, nil
	}
	switch c := cmp.Compare(k, n.key); {
	case c < 0:
		l, h := pmapSplit(n.left, k)
		cp := *n
		cp.left = h
		return l, &cp
	case c > 0:
		l, h := pmapSplit(n.right, k)
		cp := *n
		cp.right = l
		return &cp, h
	default:
		return n.left, n.right
	}
}

func pmapWalk[K cmp.Ordered, V any](n *pmapNode[K, V], yield func(K, V) bool) bool {
	for n != nil {
		if !pmapWalk(n.left, yield) || !yield(n.key, n.val) {
			return false
		}
		n = n.right
	}
	return true
}

// pmapDiff compares two treaps. Both have the one shape of their key set, so
// their roots are the highest-priority keys: equal roots recurse side by
// side; otherwise the higher root is absent from the other tree, which is
// split at its key.
func pmapDiff[K cmp.Ordered, V any](a, b *pmapNode[K, V], same func(x, y V) bool, yield func(MapChange[K, V]) bool) bool {
	switch {
	case a == b:
		return true
	case a == nil:
		return pmapWalk(b, func(k K, v V) bool { return yield(MapChange[K, V]{Key: k, New: v, InNew: true}) })
	case b == nil:
		return pmapWalk(a, func(k K, v V) bool { return yield(MapChange[K, V]{Key: k, Old: v, InOld: true}) })
	case a.key == b.key:
		if !pmapDiff(a.left, b.left, same, yield) {
			return false
		}
		if !same(a.val, b.val) && !yield(MapChange[K, V]{Key: a.key, Old: a.val, InOld: true, New: b.val, InNew: true}) {
			return false
		}
		return pmapDiff(a.right, b.right, same, yield)
	case a.above(b):
		lo, hi := pmapSplit(b, a.key)
		return pmapDiff(a.left, lo, same, yield) &&
			yield(MapChange[K, V]{Key: a.key, Old: a.val, InOld: true}) &&
			pmapDiff(a.right, hi, same, yield)
	default:
		lo, hi := pmapSplit(a, b.key)
		return pmapDiff(lo, b.left, same, yield) &&
			yield(MapChange[K, V]{Key: b.key, New: b.val, InNew: true}) &&
			pmapDiff(hi, b.right, same, yield)
	}
}

// keyPriority is a key's treap priority: a fixed hash, so every map with the
// same keys has the same shape.
func keyPriority[K cmp.Ordered](k K) uint64 {
	switch v := any(k).(type) {
	case string:
		return mix64(fnv64(v))
	case int:
		return mix64(uint64(v))
	case int32:
		return mix64(uint64(v))
	case int64:
		return mix64(uint64(v))
	case uint64:
		return mix64(v)
	case float64:
		return mix64(math.Float64bits(v))
	default:
		return mix64(fnv64(fmt.Sprint(v)))
	}
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is splitmix64's finalizer: it spreads every input bit over the output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
