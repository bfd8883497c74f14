package logstore

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRC32CFoldMatchesTheTable checksums lengths around every folding
// boundary, at every alignment, against hash/crc32's Castagnoli table.
func TestCRC32CFoldMatchesTheTable(t *testing.T) {
	if !canFold {
		t.Log("this CPU does not fold: the table's checksum is the only path")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	var lengths []int
	for n := 0; n <= 3*foldMinBytes; n++ {
		lengths = append(lengths, n)
	}
	for range 200 {
		lengths = append(lengths, rng.IntN(1<<20))
	}
	lengths = append(lengths, 1<<20)
	for _, n := range lengths {
		for _, at := range []int{0, 1, 3, 8, 17, 63} {
			p := buf[at : at+n]
			if got, want := crc32cChecksum(p), crc32.Checksum(p, crc32c); got != want {
				t.Fatalf("%d bytes at %d: crc32c %08x, want %08x", n, at, got, want)
			}
		}
	}
}

// TestCRC32CFoldFindsEveryFlippedBit flips each bit of a folded input in
// turn: every flip changes the checksum as the table's does.
func TestCRC32CFoldFindsEveryFlippedBit(t *testing.T) {
	p := make([]byte, 2*foldMinBytes+5)
	for i := range p {
		p[i] = byte(i * 7)
	}
	for i := range 8 * len(p) {
		p[i/8] ^= 1 << (i % 8)
		if got, want := crc32cChecksum(p), crc32.Checksum(p, crc32c); got != want {
			t.Fatalf("bit %d flipped: crc32c %08x, want %08x", i, got, want)
		}
		p[i/8] ^= 1 << (i % 8)
	}
}

func BenchmarkCRC32C(b *testing.B) {
	for _, n := range []int{512, 1 << 10, 2 << 10, 4 << 10, 16 << 10, 1 << 20} {
		p := make([]byte, n)
		b.Run("fold/"+sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				crc32cChecksum(p)
			}
		})
		b.Run("table/"+sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				crc32.Checksum(p, crc32c)
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return itoa(int64(n>>20)) + "MiB"
	}
	return itoa(int64(n>>10)) + "KiB"
}
