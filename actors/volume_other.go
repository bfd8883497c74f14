//go:build !linux && !darwin

package actors

// volumeBytes returns -1, -1: the volume's size is unknown on this platform.
func volumeBytes(string) (total, usable int64) { return -1, -1 }
