package logstore

import (
	"testing"
	"time"

	"gregor/logstore/vfs"
)

func TestGroupCommitterReportsDurability(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, DefaultConfig(), nil, 0)
	defer l.Close()
	g := NewGroupCommitter(l, 64, nil)
	const appends = 300
	done := make(chan int64, appends)
	for i := range appends {
		res, err := l.Append([][]byte{simpleBatch(t, 1, 100, 0, i)}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		end := res.LogEndOffset
		g.NotifyWhenDurable(end, func(err error) {
			if err != nil {
				t.Errorf("durable %d: %v", end, err)
			}
			if f := l.FlushedOffset(); f < end {
				t.Errorf("told %d is durable with flushed offset %d", end, f)
			}
			done <- end
		})
	}
	deadline := time.After(30 * time.Second)
	for range appends {
		select {
		case <-done:
		case <-deadline:
			t.Fatal("waiters not answered in time")
		}
	}
	g.Close()
	if l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("flushed %d of %d", l.FlushedOffset(), l.LogEndOffset())
	}
	// After Close, registrations are answered at once.
	got := make(chan error, 1)
	g.NotifyWhenDurable(l.LogEndOffset()+1, func(err error) { got <- err })
	if err := <-got; err == nil {
		t.Fatal("closed committer accepted a waiter")
	}
}
