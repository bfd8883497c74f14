package groups

import (
	"math"
	"unicode/utf16"
)

// OffsetsTopic is the internal topic holding group metadata and committed
// offsets.
const OffsetsTopic = "__consumer_offsets"

// PartitionFor is the __consumer_offsets partition that holds group (or any
// coordinator key) among partitions, as Kafka computes it:
// abs(javaStringHash(group)) mod partitions, with abs(MinInt32) = 0.
func PartitionFor(group string, partitions int32) int32 {
	if partitions <= 0 {
		panic("groups: PartitionFor over no partitions")
	}
	h := javaStringHash(group)
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % partitions
}

// javaStringHash is Java's String.hashCode: h = 31*h + c over the string's
// UTF-16 code units, wrapping on overflow. Bytes that are not UTF-8 count as
// U+FFFD, as Java's decoder reads them.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}
