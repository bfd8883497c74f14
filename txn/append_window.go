package txn

import "gregor/logstore/internaltopic"

// AppendWindow is what a coordinator's shell keeps of its appends to its
// __transaction_state partition: the core's appends joined into batches,
// at most a limit of them in flight, and their outcomes handed back in the
// order the batches were sent, so that a record is reported appended only
// once every record before it in the partition is (a state record durable
// before its markers go out, markers before the completion). Production's
// shell and the simulator's keep the same one.
type AppendWindow struct {
	limit    int
	queued   []Append
	inFlight []*AppendBatch
}

// AppendBatch is one batch of appends written to the partition as one.
type AppendBatch struct {
	// IDs are the core's appends in the batch, Records their records in
	// order.
	IDs     []internaltopic.AppendID
	Records []internaltopic.Record
	// Code is the append's error code once answered.
	Code     int16
	answered bool
}

// NewAppendWindow keeps at most limit batches in flight (at least one).
func NewAppendWindow(limit int) *AppendWindow {
	return &AppendWindow{limit: max(limit, 1)}
}

// Queue adds the core's appends to those waiting for a batch.
func (w *AppendWindow) Queue(aps ...Append) { w.queued = append(w.queued, aps...) }

// Next joins the appends waiting into a batch to send, counted in flight
// until answered; nil when none wait or the window is full.
func (w *AppendWindow) Next() *AppendBatch {
	if len(w.inFlight) >= w.limit || len(w.queued) == 0 {
		return nil
	}
	count := 0
	for _, ap := range w.queued {
		count += len(ap.Records)
	}
	b := &AppendBatch{IDs: make([]internaltopic.AppendID, 0, len(w.queued)), Records: make([]internaltopic.Record, 0, count)}
	for _, ap := range w.queued {
		b.IDs = append(b.IDs, ap.ID)
		b.Records = append(b.Records, ap.Records...)
	}
	w.queued = nil
	w.inFlight = append(w.inFlight, b)
	return b
}

// Answered takes batch b's outcome and returns the batches whose outcomes
// are due now, in the order sent: b's once every batch sent before it was
// answered too. A batch of another window (a stale answer) returns none.
func (w *AppendWindow) Answered(b *AppendBatch, code int16) []*AppendBatch {
	b.Code, b.answered = code, true
	n := 0
	for n < len(w.inFlight) && w.inFlight[n].answered {
		n++
	}
	due := w.inFlight[:n:n]
	w.inFlight = w.inFlight[n:]
	return due
}
