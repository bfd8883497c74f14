// Package raftlog is the durable log of the metadata quorum: the entries,
// hard state and snapshots of an etcd raft node (go.etcd.io/raft/v3),
// written to a directory (DirName, Kafka's __cluster_metadata) through the
// filesystem interface of logstore/vfs, and recovered at start as the State
// a raft node restarts from.
//
// It imports logstore and logstore/vfs of gregor and nothing else of it; in
// particular not cluster: snapshot data and entry data are opaque bytes here.
//
// # Layout
//
// The directory holds one segment, "<seq>.log" (seq a 20-digit sequence
// number), and the snapshot it starts from, "<index>.snap" (index the raft
// index the snapshot covers, 20 digits). A segment is a sequence of records:
//
//	record := length uint32 | crc32c uint32 | kind byte | payload
//
// (big-endian; length counts the kind and the payload, the CRC-32C covers
// them). The first record of a segment is its base: the index and term of
// the snapshot it continues (0, 0 for none). Entry records (index, term,
// type, data) and hard-state records (term, vote, commit) follow in the
// order raft handed them out; a later entry at an index replaces that entry
// and every one after it, as raft's log does. A snapshot file holds one
// record: the raftpb.Snapshot.
//
// # Durability
//
// Save writes a Ready's snapshot, entries and hard state in that order, and
// fsyncs when raft says it must (MustSync), before the caller sends the
// Ready's messages. Appends go to the end of the segment in one write; a
// failed write is cut off again, and a failed fsync makes the log refuse
// every later write (the node must restart). A snapshot (installed from the
// leader, or taken locally with Compact) starts a new segment: the snapshot
// file is written and synced first, then the new segment, whole, under a
// temporary name renamed into place (vfs.WriteFileAtomic); only then are the
// older segment and snapshot removed. So the log is bounded by how often the
// caller takes snapshots.
//
// Recovery (Open) reads the newest segment, removes every older file and
// temporary file, and cuts the segment at the first record that is short or
// fails its CRC: what a crash tore. What it returns is the state after a
// prefix of the records written, holding everything a Save that fsynced
// made durable; its hard state never commits past its last entry. A whole
// record that does not make sense (an entry leaving a gap, a base that is
// not first, a snapshot missing) is logstore.ErrCorruption: starting from
// it could lose committed metadata.
//
// # Concurrency
//
// A Log is used by one goroutine (the quorum actor, or the simulator). It
// starts no goroutines and reads no clock.
package raftlog
