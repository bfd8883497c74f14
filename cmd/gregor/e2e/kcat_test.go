package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kcat's timestamp queries (-Q, -o s@ and e@), keys and headers (-K, -H,
// %k and %h), idempotent produce (-X enable.idempotence) and JSON metadata
// (-L -J), each checked against what Kafka answers.
func TestKcatTimestampsHeadersAndMetadata(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := b.admin(t).CreateTopic(ctx, 2, 1, nil, "kq"); err != nil {
		t.Fatal(err)
	}
	// Partition 0: offsets 0-9 at base + 0..9 s.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	cl := b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "kq", Value: []byte(fmt.Sprint("v", i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ms := func(s float64) int64 { return base.Add(time.Duration(s * float64(time.Second))).UnixMilli() }
	kcat := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "kcat", append([]string{"-b", b.addr}, args...)...).Output()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		at   int64
		want string
	}{
		{ms(0), "kq [0] offset 0"}, {ms(4.5), "kq [0] offset 5"}, {ms(9), "kq [0] offset 9"}, {ms(9.5), "kq [0] offset -1"},
	} {
		if got := kcat("-Q", "-t", fmt.Sprintf("kq:0:%d", c.at)); got != c.want {
			t.Errorf("kcat -Q at %d: %q, want %q", c.at, got, c.want)
		}
	}
	if got := kcat("-C", "-t", "kq", "-p", "0", "-o", fmt.Sprintf("s@%d", ms(2.5)), "-o", fmt.Sprintf("e@%d", ms(6)), "-q", "-f", "%o %s %T\n"); got !=
		fmt.Sprintf("3 v3 %d\n4 v4 %d\n5 v5 %d", ms(3), ms(4), ms(5)) {
		t.Errorf("kcat -o s@ -o e@ read\n%s", got)
	}

	produce := exec.CommandContext(ctx, "kcat", "-b", b.addr, "-P", "-t", "kq", "-p", "1", "-K", ":", "-H", "trace=abc", "-H", "empty=",
		"-z", "zstd", "-X", "enable.idempotence=true")
	produce.Stdin = strings.NewReader("k1:one\nk2:two\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	if got := kcat("-C", "-t", "kq", "-p", "1", "-e", "-q", "-f", "%o %k %s %h\n"); got != "0 k1 one trace=abc,empty=\n1 k2 two trace=abc,empty=" {
		t.Errorf("kcat read keys and headers\n%s", got)
	}

	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		ControllerID int32 `json:"controllerid"`
		Topics       []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(kcat("-L", "-J", "-t", "kq")), &md); err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || md.Brokers[0].Name != b.addr || md.ControllerID != 1 ||
		len(md.Topics) != 1 || md.Topics[0].Topic != "kq" || len(md.Topics[0].Partitions) != 2 || md.Topics[0].Partitions[1].Leader != 1 {
		t.Errorf("kcat -L -J: %+v", md)
	}
}
