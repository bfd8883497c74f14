package netio

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestNewVersionTable(t *testing.T) {
	cases := []struct {
		name       string
		ranges     []APIVersionRange
		identified bool
		wantErr    string
		want18     versionRangeEntry
	}{
		{name: "empty serves ApiVersions v0-v4", want18: versionRangeEntry{true, 0, 4}},
		{name: "identified serves v5", identified: true, want18: versionRangeEntry{true, 0, 5}},
		{name: "router pins ApiVersions", ranges: []APIVersionRange{{18, 0, 3}}, want18: versionRangeEntry{true, 0, 3}},
		{name: "ApiVersions above netio", ranges: []APIVersionRange{{18, 0, 5}}, wantErr: "above the 4"},
		{name: "unknown key", ranges: []APIVersionRange{{9999, 0, 0}}, wantErr: "unknown to kmsg"},
		{name: "negative key", ranges: []APIVersionRange{{-1, 0, 0}}, wantErr: "unknown to kmsg"},
		{name: "min above max", ranges: []APIVersionRange{{3, 5, 4}}, wantErr: "bad version range"},
		{name: "negative min", ranges: []APIVersionRange{{3, -1, 4}}, wantErr: "bad version range"},
		{name: "above kmsg", ranges: []APIVersionRange{{3, 0, 99}}, wantErr: "above kmsg"},
		{name: "twice", ranges: []APIVersionRange{{3, 0, 1}, {3, 0, 2}}, wantErr: "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table, err := newVersionTable(tc.ranges, tc.identified)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := table.lookup(18); got != tc.want18 {
				t.Fatalf("ApiVersions %+v, want %+v", got, tc.want18)
			}
			if _, ok := table.lookup(-5); ok {
				t.Fatal("negative key served")
			}
		})
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{RequestMaxBytes: -1},
		{MaxConnections: -1},
		{MaxInFlightRequests: -1},
		{APIVersions: []APIVersionRange{{3, 2, 1}}},
	} {
		if _, err := NewServer(cfg, handlerFunc(func(*Request, func(kmsg.Response)) {}), nil); err == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
	if _, err := NewServer(Config{}, nil, nil); err == nil {
		t.Fatal("nil handler accepted")
	}
}

func TestDecodeRequestHeaders(t *testing.T) {
	table, err := newVersionTable([]APIVersionRange{{3, 0, 12}, {7, 0, 3}}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("client-1"))
	frameBody := func(b []byte) []byte { return b[4:] }

	// Header v2 (flexible) and v1, client id read in both.
	for _, v := range []int16{1, 9, 12} {
		d, err := decodeRequestAfter(frameBody(f.AppendRequest(nil, metadataRequest(v, "t"), 77)), table, "")
		if err != nil {
			t.Fatalf("Metadata v%d: %v", v, err)
		}
		want := RequestHeader{APIKey: 3, APIVersion: v, CorrelationID: 77, ClientID: "client-1"}
		if d.header != want || *d.body.(*kmsg.MetadataRequest).Topics[0].Topic != "t" {
			t.Fatalf("Metadata v%d: %+v", v, d.header)
		}
	}
	// Header v2 with a tagged field is skipped.
	b := frameBody(f.AppendRequest(nil, metadataRequest(12, "t"), 1))
	tagAt := 2 + 2 + 4 + 2 + len("client-1")
	withTag := append(append(append([]byte{}, b[:tagAt]...), 1, 5, 2, 0xaa, 0xbb), b[tagAt+1:]...)
	if d, err := decodeRequestAfter(withTag, table, ""); err != nil || *d.body.(*kmsg.MetadataRequest).Topics[0].Topic != "t" {
		t.Fatalf("tagged header: %v", err)
	}
	// Null client id.
	nullID := kmsg.NewRequestFormatter().AppendRequest(nil, metadataRequest(4, "t"), 2)
	if d, err := decodeRequestAfter(frameBody(nullID), table, ""); err != nil || d.header.ClientID != "" {
		t.Fatalf("null client id: %+v %v", d.header, err)
	}
	// ControlledShutdown v0 has header v0: no client id.
	// (kmsg's formatter writes no body for it, so build it by hand.)
	cs := []byte{0, 7, 0, 0, 0, 0, 0, 3, 0, 0, 0, 5}
	d, err := decodeRequestAfter(cs, table, "")
	if err != nil || d.body.(*kmsg.ControlledShutdownRequest).BrokerID != 5 || d.header.ClientID != "" {
		t.Fatalf("header v0: %+v %v", d.header, err)
	}
	// ApiVersions out of range decodes to the KIP-511 case, body untouched.
	av := frameBody(f.AppendRequest(nil, apiVersionsRequest(5), 4))
	if d, err := decodeRequestAfter(av, table, ""); err != nil || !d.unsupportedAPIVersions() {
		t.Fatalf("ApiVersions v5 unserved: %+v %v", d, err)
	}
	if _, err := decodeRequestAfter(av[:5], table, ""); !errors.Is(err, ErrMalformedHeader) {
		t.Fatalf("short header: %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	stream := append(frameOf([]byte("abc")), frameOf(nil)...)
	frames := connFrames(bytes.NewReader(stream), 10)
	if f, err := frames.next(); err != nil || string(f) != "abc" {
		t.Fatalf("first frame %q %v", f, err)
	}
	if f, err := frames.next(); err != nil || len(f) != 0 {
		t.Fatalf("empty frame %q %v", f, err)
	}
	if _, err := frames.next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	if _, err := connFrames(bytes.NewReader(frameOf([]byte("abc"))[:5]), 10).next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: %v", err)
	}
	if _, err := connFrames(bytes.NewReader(frameOf(make([]byte, 11))), 10).next(); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("over limit: %v", err)
	}
	// A frame larger than one chunk is read whole as it grows.
	big := bytes.Repeat([]byte{7}, 3*frameChunkBytes+5)
	if f, err := connFrames(bytes.NewReader(frameOf(big)), 1<<30).next(); err != nil || !bytes.Equal(f, big) {
		t.Fatalf("big frame: %d bytes, %v", len(f), err)
	}
	// Announcing a huge frame and sending little allocates little.
	if _, err := connFrames(bytes.NewReader(frameOf(big)[:100]), 1<<30).next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut big frame: %v", err)
	}
	announced := connFrames(bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff, 1}), 1<<31-1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _ = announced.next()
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 2*frameChunkBytes {
		t.Fatalf("a 2 GiB announcement allocated %d bytes", allocated)
	}
}
