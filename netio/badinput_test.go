package netio

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameOf prefixes b with its size.
func frameOf(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// headerBytes is a request header v1/v2 without tags.
func headerBytes(key, version int16, corr int32, clientID string) []byte {
	b := kbin.AppendInt16(nil, key)
	b = kbin.AppendInt16(b, version)
	b = kbin.AppendInt32(b, corr)
	return kbin.AppendNullableString(b, &clientID)
}

// Each kind of bad input closes its connection, with a log line naming the
// client, while another connection keeps working.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	const maxBytes = 1 << 20
	fmt := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bad-client"))
	cases := []struct {
		name    string
		bytes   []byte
		logMsg  string
		namesID bool // the log line carries client_id "bad-client"
	}{
		{"oversize frame", binary.BigEndian.AppendUint32(nil, maxBytes+1), "closing connection: bad frame size", false},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe, 1, 2}, "closing connection: bad frame size", false},
		{"truncated header", frameOf([]byte{0, 3, 0, 12, 0}), "closing connection: bad request", false},
		{"truncated client id", frameOf(headerBytes(3, 12, 7, "bad-client")[:12]), "closing connection: bad request", false},
		{"garbage body", frameOf(append(headerBytes(3, 12, 7, "bad-client"), 0, 0xff)), "closing connection: bad request", true},
		{"garbage tags", frameOf(append(headerBytes(3, 12, 7, "bad-client"), 0xff)), "closing connection: bad request", true},
		{"unknown api key", frameOf(headerBytes(9999, 0, 7, "bad-client")), "closing connection: bad request", true},
		{"api key not served", fmt.AppendRequest(nil, kmsg.NewPtrFetchRequest(), 7), "closing connection: bad request", true},
		{"version above max", fmt.AppendRequest(nil, metadataRequest(13, "x"), 7), "closing connection: bad request", true},
		{"version below min", fmt.AppendRequest(nil, produceRequest(2, 1, "x"), 7), "closing connection: bad request", true},
		{"negative version", frameOf(headerBytes(3, -1, 7, "bad-client")), "closing connection: bad request", true},
	}
	logger, logs := testLogger(t)
	s := startServerWithLogger(t, Config{RequestMaxBytes: maxBytes}, &memoryHandler{}, logger)
	good := dialRaw(t, s.Addr(), "good-client")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := dialRaw(t, s.Addr(), "bad-client")
			// A good request first, so the connection is known to work.
			bad.roundTrip(apiVersionsRequest(3), 1)
			before := logs.FilterMessage(tc.logMsg).Len()
			bad.write(tc.bytes)
			bad.expectClosed()
			waitFor(t, "the log line", 5*time.Second, func() bool { return logs.FilterMessage(tc.logMsg).Len() > before })
			entry := logs.FilterMessage(tc.logMsg).All()[before]
			fields := entry.ContextMap()
			if fields["remote_addr"] != bad.conn.LocalAddr().String() {
				t.Fatalf("log line names %v, want %s: %v", fields["remote_addr"], bad.conn.LocalAddr(), fields)
			}
			if tc.namesID && fields["client_id"] != "bad-client" {
				t.Fatalf("log line names client %v: %v", fields["client_id"], fields)
			}
			resp := good.roundTrip(metadataRequest(12, "still-here"), int32(i+1)).(*kmsg.MetadataResponse)
			if *resp.Topics[0].Topic != "still-here" {
				t.Fatalf("other connection broken: %+v", resp)
			}
		})
	}
}

// ApiVersions above the served max is answered UNSUPPORTED_VERSION in the v0
// layout with only ApiVersions listed (KIP-511); the connection stays open and
// the retry at the advertised version succeeds.
func TestApiVersionsUnsupportedVersionDowngrade(t *testing.T) {
	s := startServer(t, Config{}, &memoryHandler{})
	for _, version := range []int16{5, 99, 32767} {
		c := dialRaw(t, s.Addr(), "downgrader")
		// kmsg cannot encode v99: patch the version of a v5 frame.
		b := c.fmt.AppendRequest(nil, apiVersionsRequest(5), 1)
		binary.BigEndian.PutUint16(b[6:], uint16(version))
		c.write(b)
		corr, body, err := c.readFrame()
		if err != nil || corr != 1 {
			t.Fatalf("v%d: read: corr %d, %v", version, corr, err)
		}
		resp := kmsg.NewPtrApiVersionsResponse() // v0 layout: no header tags
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v%d: decode v0 answer: %v", version, err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 ||
			resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MinVersion != 0 || resp.ApiKeys[0].MaxVersion != 4 {
			t.Fatalf("v%d: answer %+v", version, resp)
		}
		if len(body) != 2+4+6 {
			t.Fatalf("v%d: answer is %d bytes, want the 12 of the v0 layout", version, len(body))
		}
		retry := c.roundTrip(apiVersionsRequest(resp.ApiKeys[0].MaxVersion), 2).(*kmsg.ApiVersionsResponse)
		if retry.ErrorCode != 0 || len(retry.ApiKeys) != 3 {
			t.Fatalf("v%d: retry answer %+v", version, retry)
		}
	}
}

// Every served ApiVersions version answers the full table in its own layout.
func TestApiVersionsAnswers(t *testing.T) {
	s := startServer(t, Config{ClusterID: testClusterID, NodeID: 3}, &memoryHandler{})
	c := dialRaw(t, s.Addr(), "versions")
	want := []APIVersionRange{{0, 3, 12}, {3, 0, 12}, {18, 0, 5}}
	for v := int16(0); v <= 5; v++ {
		resp := c.roundTrip(apiVersionsRequest(v), int32(v)).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(want) {
			t.Fatalf("v%d: %+v", v, resp)
		}
		for i, k := range resp.ApiKeys {
			if got := (APIVersionRange{k.ApiKey, k.MinVersion, k.MaxVersion}); got != want[i] {
				t.Fatalf("v%d: key %d is %+v, want %+v", v, i, got, want[i])
			}
		}
	}
	bad := apiVersionsRequest(3)
	bad.ClientSoftwareName = "-not valid-"
	if resp := c.roundTrip(bad, 10).(*kmsg.ApiVersionsResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("invalid software name: error %d", resp.ErrorCode)
	}
	expect := func(clusterID *string, nodeID int32, code int16) {
		t.Helper()
		req := apiVersionsRequest(5)
		req.ClusterID, req.NodeID = clusterID, nodeID
		if resp := c.roundTrip(req, 11).(*kmsg.ApiVersionsResponse); resp.ErrorCode != code {
			t.Fatalf("cluster %v node %d: error %d, want %d", clusterID, nodeID, resp.ErrorCode, code)
		}
	}
	expect(kmsg.StringPtr(testClusterID), 3, 0)
	expect(nil, -1, 0)
	expect(kmsg.StringPtr(testClusterID), -1, kerr.InvalidRequest.Code)
	expect(nil, 3, kerr.InvalidRequest.Code)
	expect(kmsg.StringPtr("other-cluster"), 3, kerr.RebootstrapRequired.Code)
	expect(kmsg.StringPtr(testClusterID), 4, kerr.RebootstrapRequired.Code)
}

// A key served AdvertiseFromZero is listed from v0 in the ApiVersions
// answer (Kafka 4's Produce, KAFKA-18659) while a request below its served
// range still closes the connection; an advertised key that is not served
// is a configuration error.
func TestAdvertiseFromZero(t *testing.T) {
	s := startServer(t, Config{AdvertiseFromZero: []int16{0}}, &memoryHandler{})
	c := dialRaw(t, s.Addr(), "librdkafka")
	resp := c.roundTrip(apiVersionsRequest(3), 1).(*kmsg.ApiVersionsResponse)
	listed := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		listed[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	if got, want := listed[0], [2]int16{0, 12}; got != want {
		t.Fatalf("Produce listed as v%d..v%d, want v%d..v%d", got[0], got[1], want[0], want[1])
	}
	if got, want := listed[3], [2]int16{0, 12}; got != want {
		t.Fatalf("Metadata listed as v%d..v%d, want v%d..v%d", got[0], got[1], want[0], want[1])
	}
	c.roundTrip(produceRequest(3, 1, "x"), 2)
	c.send(produceRequest(2, 1, "x"), 3)
	c.expectClosed()
	if _, err := NewServer(Config{APIVersions: testVersions, AdvertiseFromZero: []int16{1}}, &memoryHandler{}, nil); err == nil {
		t.Fatal("a server advertising an API key it does not serve was made")
	}
}
