package logstore

import "golang.org/x/sys/cpu"

// canFold says whether this CPU folds CRC-32C 512 bits at a time
// (crc32c.go): AVX-512 with carry-less multiplication of 512-bit vectors.
var canFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ

// fold folds the n bytes at p (n a multiple of 256, at least 256), first
// XORed into the first 64 bytes, into the 64 bytes of acc; keys are the
// folding constants (foldKeys). Implemented in crc32c_amd64.s.
//
//go:noescape
func fold(acc *[foldAccBytes]byte, p *byte, n int, first *[8]uint64, keys *[16]uint64)
