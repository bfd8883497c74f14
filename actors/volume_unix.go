//go:build linux || darwin

package actors

import "syscall"

// volumeBytes returns the total and usable bytes of the volume holding dir,
// or -1, -1 when they cannot be read (Kafka's unknown volume bytes).
func volumeBytes(dir string) (total, usable int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize)
}
