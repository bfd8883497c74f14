package logstore

import (
	"errors"
	"os"
	"path"
	"syscall"
	"testing"

	"gregor/logstore/vfs"
)

// idOf is a topic id whose bytes are 0, 1, ..., 15 plus b.
func idOf(b byte) [16]byte {
	var id [16]byte
	for i := range id {
		id[i] = byte(i) + b
	}
	return id
}

// The file reads as Kafka writes it, and Kafka's reader would take ours:
// "version: 0", a newline, "topic_id: " and the id in URL-safe base64
// without padding, nothing after.
func TestPartitionMetadataKafkaFormat(t *testing.T) {
	const kafkaWritten = "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw"
	if got := string(EncodePartitionMetadata(idOf(0))); got != kafkaWritten {
		t.Fatalf("encoded %q, want %q", got, kafkaWritten)
	}
	for _, in := range []string{
		kafkaWritten,
		kafkaWritten + "\n",
		"version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw==\n", // padded, as Java's URL decoder takes it
		"version:  0\r\ntopic_id:\tAAECAwQFBgcICQoLDA0ODw",
		"version: 1\ntopic_id: AAECAwQFBgcICQoLDA0ODw\nwhat: a later version adds\n", // downgrade: a later version reads
	} {
		id, err := DecodePartitionMetadata([]byte(in))
		if err != nil || id != idOf(0) {
			t.Errorf("decode %q: %x, %v", in, id, err)
		}
	}
}

// A damaged or foreign file is ErrPartitionMetadata, never an id.
func TestPartitionMetadataDamaged(t *testing.T) {
	for _, in := range []string{
		"",
		"version: 0",
		"version: 0\n",
		"version: -1\ntopic_id: AAECAwQFBgcICQoLDA0ODw",
		"version: x\ntopic_id: AAECAwQFBgcICQoLDA0ODw",
		"version:0\ntopic_id: AAECAwQFBgcICQoLDA0ODw",
		"topic_id: AAECAwQFBgcICQoLDA0ODw\nversion: 0",
		"version: 0\ntopic_id: AAECAwQFBgcICQoLDA0O",     // torn: 13 bytes
		"version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODwAA", // 18 bytes
		"version: 0\ntopic_id: AAECAwQF*gcICQoLDA0ODw",
		"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA", // the zero id
		"version: 0\nid: AAECAwQFBgcICQoLDA0ODw",
		"\x00\x00\x00\x00",
	} {
		if id, err := DecodePartitionMetadata([]byte(in)); !errors.Is(err, ErrPartitionMetadata) {
			t.Errorf("decode %q: %x, %v; want ErrPartitionMetadata", in, id, err)
		}
	}
}

// A new log records its topic's id durably before Open returns: it is
// there after a crash right after. Opening the directory for another topic
// fails with ErrInconsistentTopicID and leaves the directory as it was.
func TestOpenRecordsTopicIDAndRefusesAnother(t *testing.T) {
	fsys := vfs.NewMem()
	l, err := Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(1)})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 20, 40, 0)
	end := l.LogEndOffset()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	if id, ok, err := ReadPartitionMetadata(fsys, "/t-0"); err != nil || !ok || id != idOf(1) {
		t.Fatalf("after a crash the directory records %x %v %v, want %x", id, ok, err, idOf(1))
	}
	before := dirContents(t, fsys, "/t-0")
	if l, err := Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(2)}); !errors.Is(err, ErrInconsistentTopicID) {
		if l != nil {
			_ = l.Close()
		}
		t.Fatalf("open for another topic: %v, want ErrInconsistentTopicID", err)
	}
	if after := dirContents(t, fsys, "/t-0"); !equalContents(before, after) {
		t.Fatalf("the refused open changed the directory")
	}
	l, err = Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() != end {
		t.Fatalf("reopened at log end offset %d, want %d", l.LogEndOffset(), end)
	}
}

// A directory an older build wrote (no partition.metadata) keeps its data
// and records the id of the topic it is first opened for; a log opened
// with no id (the simulator, tools) records nothing.
func TestOpenRecordsTopicIDOfAnOlderDirectory(t *testing.T) {
	fsys := vfs.NewMem()
	l := openTestLog(t, fsys, "/t-0", smallConfig(), nil, 0)
	appendN(t, l, 10, 40, 0)
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadPartitionMetadata(fsys, "/t-0"); ok || err != nil {
		t.Fatalf("a log opened with no id recorded one: %v %v", ok, err)
	}
	l, err := Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(3)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() != end {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), end)
	}
	if id, ok, err := ReadPartitionMetadata(fsys, "/t-0"); err != nil || !ok || id != idOf(3) {
		t.Fatalf("records %x %v %v, want %x", id, ok, err, idOf(3))
	}
}

// A new log's id is durable once Open returns, before any append: a crash
// right after finds it, at every point a crash inside Open leaves either
// the id or no file (never a damaged one).
func TestNewLogTopicIDDurableWhenOpenReturns(t *testing.T) {
	for n := int64(0); ; n++ {
		fsys := vfs.NewMem()
		fsys.CrashAfterOps(n)
		l, err := Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(1)})
		fsys.Crash()
		id, ok, rerr := ReadPartitionMetadata(fsys, "/t-0")
		if rerr != nil {
			t.Fatalf("crash after %d ops: %v", n, rerr)
		}
		if err == nil {
			_ = l.Close()
			if !ok || id != idOf(1) {
				t.Fatalf("crash right after Open (%d ops): the directory records %x %v", n, id, ok)
			}
			return
		}
		if ok && id != idOf(1) {
			t.Fatalf("crash after %d ops: records %x", n, id)
		}
	}
}

// A damaged partition.metadata fails Open with ErrPartitionMetadata, naming
// the file, and is left for the operator; one the disk fails to read fails
// it with the disk's error, not as damaged.
func TestOpenFailsOnUnreadablePartitionMetadata(t *testing.T) {
	fsys := vfs.NewMem()
	l, err := Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	name := path.Join("/t-0", PartitionMetadataFile)
	if err := vfs.WriteFileAtomic(fsys, name, []byte("version: 0\ntopic_id: AAEC")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(1)})
	if !errors.Is(err, ErrPartitionMetadata) || errors.Is(err, ErrInconsistentTopicID) {
		t.Fatalf("damaged file: %v, want ErrPartitionMetadata", err)
	}
	if got := dirContents(t, fsys, "/t-0")[PartitionMetadataFile]; got != "version: 0\ntopic_id: AAEC" {
		t.Fatalf("the damaged file was rewritten: %q", got)
	}
	if err := WritePartitionMetadata(fsys, "/t-0", idOf(1)); err != nil {
		t.Fatal(err)
	}
	fsys.SetErrorHook(func(op vfs.Op, p string) error {
		if path.Base(p) == PartitionMetadataFile && (op == vfs.OpOpen || op == vfs.OpReadAt) {
			return &os.PathError{Op: string(op), Path: p, Err: syscall.EIO}
		}
		return nil
	})
	_, err = Open(Options{FS: fsys, Dir: "/t-0", Config: smallConfig(), TopicID: idOf(1)})
	if !errors.Is(err, syscall.EIO) || errors.Is(err, ErrPartitionMetadata) {
		t.Fatalf("unreadable file: %v, want EIO", err)
	}
}

// dirContents maps each file of dir to its bytes.
func dirContents(t *testing.T, fsys vfs.FS, dir string) map[string]string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range names {
		p, err := ReadWholeFile(fsys, path.Join(dir, name), 1<<30)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		out[name] = string(p)
	}
	return out
}

func equalContents(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
