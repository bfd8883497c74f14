package internaltopic

import (
	"math"
	"unicode/utf16"
)

// ConsumerOffsets is the internal topic holding group metadata and
// committed offsets.
const ConsumerOffsets = "__consumer_offsets"

// TransactionState is the internal topic holding transaction metadata.
const TransactionState = "__transaction_state"

// IsInternal says whether topic is one of the two internal topics.
func IsInternal(topic string) bool {
	return topic == ConsumerOffsets || topic == TransactionState
}

// PartitionFor is the partition, of partitions, that holds key (a group id
// in __consumer_offsets, a transactional id in __transaction_state), as
// Kafka computes it: abs(javaStringHash(key)) mod partitions, with
// abs(MinInt32) = 0. It panics when partitions is not positive.
func PartitionFor(key string, partitions int32) int32 {
	if partitions <= 0 {
		panic("internaltopic: PartitionFor over no partitions")
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

// javaStringHash is Java's String.hashCode: h = 31*h + c over the string's
// UTF-16 code units, wrapping on overflow. Bytes that are not UTF-8 count as
// U+FFFD, as Java's decoder reads them. It allocates nothing: ranging over
// the string yields those runes, and a rune past U+FFFF counts as its two
// surrogates.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			h = 31*(31*h+hi) + lo
			continue
		}
		h = 31*h + r
	}
	return h
}
