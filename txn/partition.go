package txn

import (
	"math"
	"unicode"
	"unicode/utf16"
)

// StateTopic is the internal topic holding transaction metadata.
const StateTopic = "__transaction_state"

// OffsetsTopic is the internal topic of group offsets: AddOffsetsToTxn adds
// the partition of it that holds the group.
const OffsetsTopic = "__consumer_offsets"

// PartitionFor is the partition of partitions that holds key (a
// transactional id, or a group id of __consumer_offsets), as Kafka computes
// it: abs(javaStringHash(key)) mod partitions, with abs(MinInt32) = 0.
func PartitionFor(key string, partitions int32) int32 {
	if partitions <= 0 {
		panic("txn: PartitionFor over no partitions")
	}
	h := javaStringHash(key)
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % partitions
}

// javaStringHash is Java's String.hashCode over the string's UTF-16 code
// units, wrapping on overflow.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
			h = 31*(31*h+r1) + r2 // a surrogate pair: two code units
			continue
		}
		h = 31*h + r
	}
	return h
}
