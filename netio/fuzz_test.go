package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// everyKeyTable serves every key kmsg knows at every version it knows, so the
// fuzzer reaches every decoder.
func everyKeyTable(t testing.TB) *versionTable {
	t.Helper()
	var ranges []APIVersionRange
	for key := int16(0); key < 200; key++ {
		if key == apiVersionsKey {
			continue
		}
		if req := kmsg.RequestForKey(key); req != nil {
			ranges = append(ranges, APIVersionRange{APIKey: key, MinVersion: 0, MaxVersion: req.MaxVersion()})
		}
	}
	table, err := newVersionTable(ranges, true)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// fuzzSeeds are real request streams: several keys and versions, flexible
// and not, and the ApiVersions downgrade case.
func fuzzSeeds() [][]byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var seeds [][]byte
	add := func(reqs ...kmsg.Request) {
		var stream []byte
		for i, r := range reqs {
			stream = f.AppendRequest(stream, r, int32(i))
		}
		seeds = append(seeds, stream)
	}
	for _, v := range []int16{0, 3, 4, 5} {
		add(apiVersionsRequest(v))
	}
	for _, v := range []int16{0, 1, 4, 9, 12, 13} {
		add(metadataRequest(v, "seed-topic"))
	}
	for _, v := range []int16{3, 7, 9, 12} {
		add(produceRequest(v, 1, "seed-topic"), produceRequest(v, 0, "seed-topic"))
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "seed-topic"
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	fetch.Topics = append(fetch.Topics, ft)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 9
	join.Group = "g"
	join.Protocols = append(join.Protocols, kmsg.NewJoinGroupRequestProtocol())
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	add(fetch, join, commit)
	unsupported := f.AppendRequest(nil, apiVersionsRequest(5), 1)
	binary.BigEndian.PutUint16(unsupported[6:], 99)
	seeds = append(seeds, unsupported)
	seeds = append(seeds, []byte{0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0, 6, 0, 7, 0, 0, 0, 1})
	return seeds
}

// decodeStream runs the whole decode path of a connection over b: framing,
// header, body, and the encode of the answers netio gives itself.
func decodeStream(t *testing.T, table *versionTable, b []byte) {
	frames := connFrames(bytes.NewReader(b), 1<<20)
	fw := frameWriter{w: io.Discard}
	for range 64 { // bounded: a stream of many tiny frames stops here
		frame, err := frames.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFrameSize) {
				t.Fatalf("read frame: unexpected error class: %v", err)
			}
			return
		}
		d, err := decodeRequestAfter(frame, table, "")
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) && !errors.Is(err, ErrMalformedBody) &&
				!errors.Is(err, ErrUnknownAPIKey) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("decodeRequest: unexpected error class: %v", err)
			}
			return
		}
		if d.header.APIKey == apiVersionsKey {
			resp := answerAPIVersions(&d, table, brokerIdentity{clusterID: "c", nodeID: 1})
			if err := fw.appendResponse(d.header.CorrelationID, resp); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if d.body == nil || d.body.Key() != d.header.APIKey || d.body.GetVersion() != d.header.APIVersion {
			t.Fatalf("decoded %+v does not match its header %+v", d.body, d.header)
		}
		// What decodes must encode again.
		_ = d.body.AppendTo(nil)
	}
}

// The decode path never panics, whatever the bytes.
func FuzzDecodeStream(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	table := everyKeyTable(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeStream(t, table, b)
	})
}

// The seeds themselves decode.
func TestFuzzSeedsDecode(t *testing.T) {
	table := everyKeyTable(t)
	for i, s := range fuzzSeeds()[:len(fuzzSeeds())-2] {
		frames := connFrames(bytes.NewReader(s), 1<<20)
		for {
			frame, err := frames.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
			if _, err := decodeRequestAfter(frame, table, ""); err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
		}
	}
}
