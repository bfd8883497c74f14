//go:build !amd64

package logstore

// canFold is false: only amd64 has the folding (crc32c_amd64.s).
const canFold = false

// fold is never called where canFold is false.
func fold(acc *[foldAccBytes]byte, p *byte, n int, first *[8]uint64, keys *[16]uint64) {
	panic("logstore: no CRC-32C folding on this architecture")
}
