package logstore

import (
	"hash/crc32"
	"math/bits"
)

// crc32c is the Castagnoli table of hash/crc32, which checksums what the
// folding below does not (short inputs, the tail of long ones, the folded
// remainder) with the CPU's CRC-32 instruction where it has one.
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// Record batches are checked with CRC-32C (Kafka's batch checksum), which a
// replicated append computes three times per byte: the leader's validation
// and each follower's. Inputs of foldMinBytes or more are folded 256 bytes
// at a time with carry-less multiplication on CPUs that have it for 512-bit
// vectors (crc32c_amd64.s), following the folding method of Gopal et al.,
// "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction" (Intel, 2009):
//
// In CRC-32C's bit order the first byte's lowest bit is the highest power
// of x. Sixteen bytes X, read as two little-endian 64-bit words X0 (first)
// and X1, are the polynomial X0(x)·x^64 + X1(x), where a word's bit i is
// x^(63-i). A carry-less product of two such words, read as a 128-bit word
// in the same order, is x times the product of their polynomials. So
//
//	clmul(X0, K0) ^ clmul(X1, K1), K0 = x^(63+D) mod P, K1 = x^(D-1) mod P
//
// is congruent to X·x^D modulo P (CRC-32C's polynomial) and fits in 128
// bits: it stands for X moved D bits further on, and is added (XOR) into
// the 16 bytes there. Four 64-byte accumulators, sixteen 128-bit lanes,
// each move 2048 bits (256 bytes) per step, so every lane folds on its
// own; at the end each accumulator moves 512 bits (64 bytes) into the
// next. The 64 bytes the last one ends with are congruent to all the bytes
// folded, so their CRC (without the initial and final inversion) is the
// CRC of those bytes; the rest goes on from there. The starting CRC
// goes into the first four bytes, which is what a CRC's running value is.
const (
	foldBlockBytes = 256
	// foldAccBytes is what the folding leaves to checksum.
	foldAccBytes = 64
	// foldMinBytes is the shortest input that is folded: below it the
	// CRC-32 instruction alone is as fast (at 2 KiB both take about the
	// same; at 16 KiB the folding takes about half the time, at 1 MiB
	// under half: BenchmarkCRC32C).
	foldMinBytes = 4096
)

// foldKeys are K0 and K1 for D = 2048 (one 256-byte step), repeated for
// each 128-bit lane of a 512-bit vector, then for D = 512 (64 bytes).
var foldKeys = func() (k [16]uint64) {
	for i, d := range []int{8 * foldBlockBytes, 8 * foldAccBytes} {
		k0 := bits.Reverse64(xPowModCastagnoli(63 + d))
		k1 := bits.Reverse64(xPowModCastagnoli(d - 1))
		for j := 8 * i; j < 8*i+8; j += 2 {
			k[j], k[j+1] = k0, k1
		}
	}
	return k
}()

// xPowModCastagnoli is x^e modulo CRC-32C's polynomial, with bit i holding
// the coefficient of x^i.
func xPowModCastagnoli(e int) uint64 {
	const p = 1<<32 | 0x1EDC6F41
	r := uint64(1)
	for range e {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= p
		}
	}
	return r
}

// crc32cChecksum is crc32.Checksum(p, crc32c), folded where the CPU can.
func crc32cChecksum(p []byte) uint32 {
	if !canFold || len(p) < foldMinBytes {
		return crc32.Checksum(p, crc32c)
	}
	n := len(p) &^ (foldBlockBytes - 1)
	// The running value before any byte is 0; uninverted, all ones.
	var first [8]uint64
	first[0] = 0xFFFFFFFF
	var acc [foldAccBytes]byte
	fold(&acc, &p[0], n, &first, &foldKeys)
	// crc32.Update inverts on the way in and out: starting it from all
	// ones starts the uninverted CRC from 0, as the folded bytes need.
	crc := crc32.Update(0xFFFFFFFF, crc32c, acc[:])
	return crc32.Update(crc, crc32c, p[n:])
}
