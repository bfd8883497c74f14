package cluster

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// checkTreap checks the search order and the heap order of priorities, and
// returns the number of nodes.
func checkTreap[V any](t *rapid.T, n *pmapNode[string, V], lo, hi *string) int {
	if n == nil {
		return 0
	}
	if lo != nil && n.key <= *lo || hi != nil && n.key >= *hi {
		t.Fatalf("key %q out of order", n.key)
	}
	if n.priority != keyPriority(n.key) {
		t.Fatalf("key %q has a stale priority", n.key)
	}
	for _, c := range []*pmapNode[string, V]{n.left, n.right} {
		if c != nil && c.above(n) {
			t.Fatalf("child %q above its parent %q", c.key, n.key)
		}
	}
	return 1 + checkTreap(t, n.left, lo, &n.key) + checkTreap(t, n.right, &n.key, hi)
}

// TestPersistentMapMatchesMap runs random operations against a plain map,
// keeping every version: old versions never change, and Diff between any two
// equals the difference of their models.
func TestPersistentMapMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.StringMatching(`[a-f]{0,3}`)
		var versions []PersistentMap[string, int]
		var models []map[string]int
		m, model := PersistentMap[string, int]{}, map[string]int{}
		for i := range rapid.IntRange(0, 60).Draw(t, "ops") {
			k := key.Draw(t, "key")
			if rapid.Bool().Draw(t, "set") {
				m, model[k] = m.Set(k, i), i
			} else {
				m = m.Delete(k)
				delete(model, k)
			}
			versions, models = append(versions, m), append(models, maps.Clone(model))
		}
		for i, v := range versions {
			if n := checkTreap(t, v.root, nil, nil); n != v.Len() || n != len(models[i]) {
				t.Fatalf("version %d: %d nodes, Len %d, model %d", i, n, v.Len(), len(models[i]))
			}
			keys := slices.Collect(v.Keys())
			if want := slices.Sorted(maps.Keys(models[i])); !slices.Equal(keys, want) {
				t.Fatalf("version %d: keys %v, want %v", i, keys, want)
			}
			for k, want := range models[i] {
				if got, ok := v.Get(k); !ok || got != want {
					t.Fatalf("version %d: Get(%q) = %d %t, want %d", i, k, got, ok, want)
				}
			}
			if _, ok := v.Get("zzz"); ok {
				t.Fatal("Get found an absent key")
			}
		}
		if len(versions) < 2 {
			return
		}
		i := rapid.IntRange(0, len(versions)-1).Draw(t, "old")
		j := rapid.IntRange(0, len(versions)-1).Draw(t, "new")
		var got []string
		for c := range versions[j].Diff(versions[i], func(a, b int) bool { return a == b }) {
			got = append(got, fmt.Sprintf("%s:%d/%t>%d/%t", c.Key, c.Old, c.InOld, c.New, c.InNew))
		}
		if want := modelDiff(models[i], models[j]); !slices.Equal(got, want) {
			t.Fatalf("diff %d→%d = %v, want %v", i, j, got, want)
		}
	})
}

func modelDiff(old, new map[string]int) []string {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		o, inOld := old[k]
		n, inNew := new[k]
		if inOld != inNew || o != n {
			out = append(out, fmt.Sprintf("%s:%d/%t>%d/%t", k, o, inOld, n, inNew))
		}
	}
	return out
}

// TestPersistentMapShapeIsCanonical builds one key set in two orders: the
// trees are the same, so Diff skips them at the root.
func TestPersistentMapShapeIsCanonical(t *testing.T) {
	var a, b PersistentMap[string, int]
	for i := range 200 {
		a = a.Set(fmt.Sprint(i), 0)
		b = b.Set(fmt.Sprint(199-i), 0)
	}
	var same func(x, y *pmapNode[string, int]) bool
	same = func(x, y *pmapNode[string, int]) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.key == y.key && same(x.left, y.left) && same(x.right, y.right)
	}
	if !same(a.root, b.root) {
		t.Fatal("one key set, two shapes")
	}
}

func TestPersistentMapDiffStops(t *testing.T) {
	var m PersistentMap[int, int]
	for i := range 100 {
		m = m.Set(i, i)
	}
	n := 0
	for range m.Diff(PersistentMap[int, int]{}, func(a, b int) bool { return a == b }) {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("visited %d", n)
	}
}

// BenchmarkPersistentMapDiff times the diff of two versions one key apart:
// it grows with the depth of the tree, not its size.
func BenchmarkPersistentMapDiff(b *testing.B) {
	for _, size := range []int{10, 10_000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var m PersistentMap[string, int]
			for i := range size {
				m = m.Set(fmt.Sprintf("topic-%d", i), i)
			}
			next := m.Set("topic-5", -1)
			b.ResetTimer()
			for range b.N {
				for range next.Diff(m, func(a, b int) bool { return a == b }) {
				}
			}
		})
	}
}
