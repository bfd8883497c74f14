package logstore

import "golang.org/x/sys/cpu"

// canFold says whether this CPU folds CRC-32C 512 bits at a time
// (crc32c.go): AVX-512 with carry-less multiplication of 512-bit vectors.
var canFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ

// fold folds the n bytes at p (n a multiple of 256, at least 256) into the
// 256 bytes of acc, first XORed into the first 64 bytes, keys the folding
// constants (crc32c.go). Implemented in crc32c_amd64.s.
//
//go:noescape
func fold(acc *[foldBlockBytes]byte, p *byte, n int, first *[8]uint64, keys *[8]uint64)
