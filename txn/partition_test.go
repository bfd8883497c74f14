package txn

import (
	"testing"
	"unicode/utf16"
)

func TestJavaStringHash(t *testing.T) {
	// Java's String.hashCode of each.
	for s, want := range map[string]int32{"": 0, "hello": 99162322, "😀": 1772899, "a😀b": 57849694} {
		if got := javaStringHash(s); got != want {
			t.Errorf("hash(%q) = %d, want %d", s, got, want)
		}
	}
	// The same as hashing the UTF-16 code units, for any string
	// (invalid UTF-8 reads as U+FFFD either way).
	naive := func(s string) int32 {
		var h int32
		for _, u := range utf16.Encode([]rune(s)) {
			h = 31*h + int32(u)
		}
		return h
	}
	for _, s := range []string{"txn-1", "Ünïcödé", "\xff\xfe", "𝄞 clef", "transactional-id-with-a-long-name-0123456789"} {
		if javaStringHash(s) != naive(s) {
			t.Errorf("hash(%q) = %d, UTF-16 units give %d", s, javaStringHash(s), naive(s))
		}
	}
}
