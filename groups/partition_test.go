package groups

import "testing"

// The expected values are Java's "...".hashCode() (computed over UTF-16 code
// units outside Go) and Kafka's partitionFor over 50 partitions.
func TestPartitionFor(t *testing.T) {
	for _, c := range []struct {
		group string
		hash  int32
		p50   int32
	}{
		{"", 0, 0},
		{"a", 97, 47},
		{"group", 98629247, 47},
		{"my-group", -1906497762, 12},
		{"console-consumer-12345", 158455506, 6},
		{"polygenelubricants", -2147483648, 0}, // Integer.MIN_VALUE: abs is 0
		{"héllo", 103094734, 34},
		{"😀", 1772899, 49},
	} {
		if h := javaStringHash(c.group); h != c.hash {
			t.Errorf("hash(%q) = %d, want %d", c.group, h, c.hash)
		}
		if p := PartitionFor(c.group, 50); p != c.p50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", c.group, p, c.p50)
		}
	}
}
