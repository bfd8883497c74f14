package txn

import (
	"slices"
	"testing"

	"gregor/logstore/internaltopic"
)

// Batches join what waits, stay within the window, and hand their
// outcomes back in the order sent whatever order they are answered in.
func TestAppendWindowKeepsTheOrderSent(t *testing.T) {
	w := NewAppendWindow(2)
	if w.Next() != nil {
		t.Fatal("a batch with nothing queued")
	}
	w.Queue(Append{ID: 1, Records: []internaltopic.Record{{}}}, Append{ID: 2, Records: []internaltopic.Record{{}, {}}})
	first := w.Next()
	if !slices.Equal(first.IDs, []internaltopic.AppendID{1, 2}) || len(first.Records) != 3 {
		t.Fatalf("first batch %v with %d records, want [1 2] with 3", first.IDs, len(first.Records))
	}
	w.Queue(Append{ID: 3})
	second := w.Next()
	w.Queue(Append{ID: 4})
	if w.Next() != nil {
		t.Fatal("a third batch in a window of two")
	}
	if due := w.Answered(second, 0); len(due) != 0 {
		t.Fatalf("the second batch's outcome is due before the first's: %d batches", len(due))
	}
	due := w.Answered(first, 7)
	if len(due) != 2 || due[0] != first || due[1] != second || first.Code != 7 || second.Code != 0 {
		t.Fatalf("due %v, want the first (code 7) then the second (code 0)", due)
	}
	if third := w.Next(); third == nil || !slices.Equal(third.IDs, []internaltopic.AppendID{4}) {
		t.Fatalf("after the answers, the next batch is %v, want [4]", third)
	}
	if due := w.Answered(&AppendBatch{}, 0); len(due) != 0 {
		t.Fatalf("a stale answer made %d batches due", len(due))
	}
}
