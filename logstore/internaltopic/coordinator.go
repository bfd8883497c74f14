package internaltopic

// The vocabulary the two coordinator cores (groups and txn) share with the
// shells that drive them: the time they are handed, the ids under which
// they ask for work and hear back, and the records of their topics.

// Time is the time a coordinator core is handed: wall time (Unix ms) for
// the timestamps its records carry and for retention, monotonic ms (any
// origin) for every deadline.
type Time struct {
	WallMs, MonoMs int64
}

// RequestID names a request to a coordinator; its reply carries it back.
type RequestID uint64

// AppendID names records a coordinator asked to append to its partition of
// the internal topic; the coordinator's Appended reports the outcome under
// it.
type AppendID uint64

// Record is one record of an internal topic: a key and a value, or a
// tombstone (nil Value) that deletes what the key names (a group's offset
// or metadata in __consumer_offsets, a transactional id in
// __transaction_state).
type Record struct {
	Key, Value []byte
}
