package internaltopic

import "testing"

// The expected values are Java's "...".hashCode() (computed over UTF-16 code
// units outside Go) and Kafka's partitionFor over 50 partitions.
func TestPartitionFor(t *testing.T) {
	for _, c := range []struct {
		key  string
		hash int32
		p50  int32
	}{
		{"", 0, 0},
		{"a", 97, 47},
		{"group", 98629247, 47},
		{"my-group", -1906497762, 12},
		{"console-consumer-12345", 158455506, 6},
		{"polygenelubricants", -2147483648, 0}, // Integer.MIN_VALUE: abs is 0
		{"héllo", 103094734, 34},
		{"😀", 1772899, 49},
		{"hello", 99162322, 22},
		{"a😀b", 57849694, 44},
	} {
		if h := javaStringHash(c.key); h != c.hash {
			t.Errorf("hash(%q) = %d, want %d", c.key, h, c.hash)
		}
		if p := PartitionFor(c.key, 50); p != c.p50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", c.key, p, c.p50)
		}
	}
}

// Bytes that are not UTF-8 hash as U+FFFD (65533), one per bad byte, as
// Java reads them.
func TestInvalidUTF8HashesAsReplacementChars(t *testing.T) {
	if got, want := javaStringHash("\xff\xfe"), javaStringHash("\uFFFD\uFFFD"); got != want {
		t.Errorf("hash(\\xff\\xfe) = %d, want %d", got, want)
	}
}

func TestIsInternal(t *testing.T) {
	for topic, want := range map[string]bool{
		"__consumer_offsets": true, "__transaction_state": true,
		"orders": false, "__consumer_offsets2": false, "": false,
	} {
		if got := IsInternal(topic); got != want {
			t.Errorf("IsInternal(%q) = %v, want %v", topic, got, want)
		}
	}
}

// Hashing a key allocates nothing (the string's runes and their UTF-16
// units were two allocations for a 45-byte key, the units one for some
// shorter ones: a transactional Produce looks its id's coordinator
// partition up).
func TestJavaStringHashAllocatesNothing(t *testing.T) {
	for _, key := range []string{"txn", "a😀b", "orders-exactly-once-transactional-producer-17"} {
		if n := testing.AllocsPerRun(100, func() { javaStringHash(key) }); n != 0 {
			t.Errorf("hash(%q): %v allocations, want 0", key, n)
		}
	}
}
