package logstore

import (
	"path"
	"testing"

	"gregor/logstore/vfs"
)

// TestBrokerShutdownMarker: a clean shutdown's marker gives its epoch on any
// boot, a running process's only on the same boot; none, or a damaged one,
// gives nil; consuming removes it durably.
func TestBrokerShutdownMarker(t *testing.T) {
	const dir = "/data"
	epoch := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}
	for _, c := range []struct {
		name  string
		write func(fsys vfs.FS) error
		boot  string
		want  int64
	}{
		{"none", func(vfs.FS) error { return nil }, "b1", -1},
		{"clean", func(fsys vfs.FS) error { return WriteBrokerCleanShutdown(fsys, dir, 7) }, "b2", 7},
		{"running, same boot", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "b1") }, "b1", 8},
		{"running, another boot", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "b1") }, "b2", -1},
		{"running, boot unknown now", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "b1") }, "", -1},
		{"running without a boot id", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "") }, "", -1},
		{"damaged", func(fsys vfs.FS) error {
			return vfs.WriteFileAtomic(fsys, path.Join(dir, BrokerShutdownFile), []byte(`{"version":0,"brokerEpoch":`))
		}, "b1", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			if err := fsys.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsys.SyncDir("/"); err != nil {
				t.Fatal(err)
			}
			if err := c.write(fsys); err != nil {
				t.Fatal(err)
			}
			fsys.Crash() // what was written is durable
			got, err := ConsumeBrokerShutdown(fsys, dir, c.boot)
			if err != nil || epoch(got) != c.want {
				t.Fatalf("consumed %d, %v; want %d", epoch(got), err, c.want)
			}
			fsys.Crash() // so is the removal
			if again, err := ConsumeBrokerShutdown(fsys, dir, c.boot); err != nil || again != nil {
				t.Fatalf("consumed again: %d, %v", epoch(again), err)
			}
		})
	}
}
