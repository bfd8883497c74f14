package logstore

import (
	"errors"
	"maps"
	"os"
	"testing"

	"gregor/logstore/vfs"
)

func TestOffsetCheckpointRoundTrip(t *testing.T) {
	mem := vfs.NewMem()
	for _, offsets := range []map[TopicPartition]int64{
		{},
		{{"orders", 0}: 0},
		{{"orders", 3}: 42, {"orders", 1}: 7, {"__consumer_offsets", 49}: 1 << 40, {"a.b-c_d", 0}: 9},
	} {
		if err := WriteOffsetCheckpointFile(mem, "/"+ReplicationOffsetCheckpointFile, offsets); err != nil {
			t.Fatal(err)
		}
		got, err := ReadOffsetCheckpointFile(mem, "/"+ReplicationOffsetCheckpointFile)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, offsets) {
			t.Fatalf("read back %v, wrote %v", got, offsets)
		}
	}
}

func TestOffsetCheckpointFormatIsKafkas(t *testing.T) {
	mem := vfs.NewMem()
	offsets := map[TopicPartition]int64{{"b", 0}: 5, {"a", 10}: 1, {"a", 2}: 3}
	if err := WriteOffsetCheckpointFile(mem, "/cp", offsets); err != nil {
		t.Fatal(err)
	}
	p, err := ReadWholeFile(mem, "/cp", 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\n3\na 2 3\na 10 1\nb 0 5\n"; string(p) != want {
		t.Fatalf("file holds %q, want %q", p, want)
	}
}

func TestOffsetCheckpointMissingFileIsEmpty(t *testing.T) {
	got, err := ReadOffsetCheckpointFile(vfs.NewMem(), "/nowhere/"+ReplicationOffsetCheckpointFile)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v; want an empty map", got, err)
	}
}

// TestOffsetCheckpointTornFileIsCorruption cuts a valid file at every length
// short of its whole: each prefix must be reported as corruption, never read
// as fewer partitions.
func TestOffsetCheckpointTornFileIsCorruption(t *testing.T) {
	mem := vfs.NewMem()
	offsets := map[TopicPartition]int64{{"orders", 0}: 12, {"orders", 1}: 1, {"payments", 10}: 100}
	if err := WriteOffsetCheckpointFile(mem, "/cp", offsets); err != nil {
		t.Fatal(err)
	}
	whole, err := ReadWholeFile(mem, "/cp", 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(whole) {
		writeRaw(t, mem, "/torn", whole[:n])
		if got, err := ReadOffsetCheckpointFile(mem, "/torn"); !errors.Is(err, ErrCorruption) {
			t.Fatalf("prefix of %d bytes %q: got %v, %v; want ErrCorruption", n, whole[:n], got, err)
		}
	}
}

func TestOffsetCheckpointMalformedIsCorruption(t *testing.T) {
	mem := vfs.NewMem()
	for _, content := range []string{
		"",
		"1\n0\n",
		"0\n",
		"0\nx\n",
		"0\n1\n",
		"0\n0\nt 0 1\n",
		"0\n2\nt 0 1\n",
		"0\n1\nt 0\n",
		"0\n1\nt 0 1 2\n",
		"0\n1\nt x 1\n",
		"0\n1\nt 0 x\n",
		"0\n1\nt -1 1\n",
		"0\n1\nt 0 -1\n",
		"0\n1\nt 2147483648 1\n",
		"0\n1\nt 0 9223372036854775808\n",
		"0\n2\nt 0 1\nt 0 2\n",
		"0\n1\nt 0 1",
		"0\n1\n\n",
		"0\n1\n\x7f 0 0\n",
	} {
		writeRaw(t, mem, "/bad", []byte(content))
		if got, err := ReadOffsetCheckpointFile(mem, "/bad"); !errors.Is(err, ErrCorruption) {
			t.Errorf("%q: got %v, %v; want ErrCorruption", content, got, err)
		}
	}
}

func TestOffsetCheckpointRefusesUnwritableEntries(t *testing.T) {
	mem := vfs.NewMem()
	for _, tp := range []TopicPartition{{"", 0}, {"a b", 0}, {"a\tb", 0}, {"a\nb", 0}, {"a\x00b", 0}, {"a\u00a0b", 0}, {"ok", -1}} {
		if err := WriteOffsetCheckpointFile(mem, "/cp", map[TopicPartition]int64{tp: 1}); err == nil {
			t.Errorf("wrote %+v", tp)
		}
	}
	if err := WriteOffsetCheckpointFile(mem, "/cp", map[TopicPartition]int64{{"ok", 0}: -1}); err == nil {
		t.Error("wrote a negative offset")
	}
	if _, err := mem.Stat("/cp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused write left a file behind: %v", err)
	}
}

// FuzzReadOffsetCheckpointFile feeds arbitrary bytes to the reader: it never
// panics, and what it accepts writes back and reads back the same.
func FuzzReadOffsetCheckpointFile(f *testing.F) {
	f.Add([]byte("0\n2\na 0 1\nb 3 4\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("0\n1\nt  0\t5\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		mem := vfs.NewMem()
		writeRaw(t, mem, "/cp", p)
		got, err := ReadOffsetCheckpointFile(mem, "/cp")
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("error not marked as corruption: %v", err)
			}
			return
		}
		if err := WriteOffsetCheckpointFile(mem, "/cp2", got); err != nil {
			t.Fatalf("accepted %q but cannot write it back: %v", p, err)
		}
		back, err := ReadOffsetCheckpointFile(mem, "/cp2")
		if err != nil || !maps.Equal(back, got) {
			t.Fatalf("round trip of %q: %v, %v", p, back, err)
		}
	})
}

// writeRaw replaces name's content with p, unsynced.
func writeRaw(tb testingT, fsys vfs.FS, name string, p []byte) {
	tb.Helper()
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, 0); err != nil {
		tb.Fatal(err)
	}
}
