package actors

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// withHeaderMax rewrites a batch's max timestamp (what its producer wrote
// in the header) and its CRC; its records keep theirs.
func withHeaderMax(batch []byte, maxMs int64) []byte {
	binary.BigEndian.PutUint64(batch[35:], uint64(maxMs))
	logstore.ChecksumBatch(batch)
	return batch
}

// withFirstTimestamp rewrites a batch's first timestamp, the base of its
// records' (its CRC is left to withHeaderMax).
func withFirstTimestamp(batch []byte, firstMs int64) []byte {
	binary.BigEndian.PutUint64(batch[27:], uint64(firstMs))
	return batch
}

func errorMessage(m *string) string {
	if m == nil {
		return ""
	}
	return *m
}

// Produced timestamps are judged record by record, as Kafka's LogValidator
// does: a batch whose records are within message.timestamp.after.max.ms
// (an hour) is taken whatever its header's max timestamp says, and keeps
// its records' largest timestamp, which ListOffsets by timestamp finds; a
// record two hours ahead is refused as INVALID_TIMESTAMP, with the record
// named in the answer.
func TestProduceTimestampsAsKafkaJudgesThem(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "stamps"); err != nil {
		t.Fatal(err)
	}
	conn := dialRaw(t, n)
	now := time.Now().UnixMilli()
	// The records are stamped ten seconds ago and now (whatever time
	// rvBatch read): a header two hours ahead of them, then one a day
	// behind.
	if p := conn.produce(t, "stamps", withHeaderMax(withFirstTimestamp(rvBatch(t, rvRecords([]byte("a")), 1, 0), now-10_000), now+2*3_600_000)); p.ErrorCode != 0 {
		t.Fatalf("a header ahead of its records: %v %v", kerr.ErrorForCode(p.ErrorCode), errorMessage(p.ErrorMessage))
	}
	if p := conn.produce(t, "stamps", withHeaderMax(withFirstTimestamp(rvBatch(t, rvRecords([]byte("b")), 1, 3), now), now-86_400_000)); p.ErrorCode != 0 {
		t.Fatalf("a header behind its records: %v %v", kerr.ErrorForCode(p.ErrorCode), errorMessage(p.ErrorMessage))
	}
	ahead := rvBatch(t, rvRecords([]byte("c")), 1, 0)
	binary.BigEndian.PutUint64(ahead[27:], uint64(now+2*3_600_000)) // first timestamp
	p := conn.produce(t, "stamps", withHeaderMax(ahead, now+2*3_600_000))
	if p.ErrorCode != kerr.InvalidTimestamp.Code || len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 0 {
		t.Fatalf("a record two hours ahead: %v %v, record errors %+v", kerr.ErrorForCode(p.ErrorCode), errorMessage(p.ErrorMessage), p.ErrorRecords)
	}
	// The second batch's record, at offset 1, is found by its own
	// timestamp, not passed over for its header's.
	listed, err := adm.ListOffsetsAfterMilli(ctx, now-5_000, "stamps")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := listed.Lookup("stamps", 0)
	if got.Err != nil || got.Offset != 1 {
		t.Fatalf("first offset at or after %d: %+v", now-5_000, got)
	}
	ends, err := adm.ListEndOffsets(ctx, "stamps")
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup("stamps", 0); end.Offset != 2 {
		t.Fatalf("end offset %d, want 2", end.Offset)
	}
}
