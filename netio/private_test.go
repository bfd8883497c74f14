package netio

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// echoKey is the toy private API of these tests: the response carries the
// request's payload back. v1 is flexible.
const echoKey = 20001

type echoRequest struct {
	Version int16
	Payload []byte
}

func (*echoRequest) Key() int16           { return echoKey }
func (*echoRequest) MaxVersion() int16    { return 1 }
func (r *echoRequest) SetVersion(v int16) { r.Version = v }
func (r *echoRequest) GetVersion() int16  { return r.Version }
func (r *echoRequest) IsFlexible() bool   { return r.Version >= 1 }
func (r *echoRequest) AppendTo(dst []byte) []byte {
	return appendEchoPayload(dst, r.Payload, r.IsFlexible())
}
func (r *echoRequest) ReadFrom(src []byte) (err error) {
	r.Payload, err = readEchoPayload(src, r.IsFlexible())
	return err
}
func (r *echoRequest) ResponseKind() kmsg.Response { return &echoResponse{Version: r.Version} }

type echoResponse struct {
	Version int16
	Payload []byte
}

func (*echoResponse) Key() int16           { return echoKey }
func (*echoResponse) MaxVersion() int16    { return 1 }
func (r *echoResponse) SetVersion(v int16) { r.Version = v }
func (r *echoResponse) GetVersion() int16  { return r.Version }
func (r *echoResponse) IsFlexible() bool   { return r.Version >= 1 }
func (r *echoResponse) AppendTo(dst []byte) []byte {
	return appendEchoPayload(dst, r.Payload, r.IsFlexible())
}
func (r *echoResponse) ReadFrom(src []byte) (err error) {
	r.Payload, err = readEchoPayload(src, r.IsFlexible())
	return err
}
func (r *echoResponse) RequestKind() kmsg.Request { return &echoRequest{Version: r.Version} }

func appendEchoPayload(dst, payload []byte, flexible bool) []byte {
	if flexible {
		return append(kbin.AppendCompactBytes(dst, payload), 0) // no tagged fields
	}
	return kbin.AppendBytes(dst, payload)
}

func readEchoPayload(src []byte, flexible bool) ([]byte, error) {
	b := kbin.Reader{Src: src}
	var payload []byte
	if flexible {
		payload = b.CompactBytes()
		kmsg.SkipTags(&b)
	} else {
		payload = b.Bytes()
	}
	return payload, b.Complete()
}

var echoAPI = PrivateAPI{
	APIKey: echoKey, MinVersion: 0, MaxVersion: 1, Name: "Echo",
	NewRequest: func() kmsg.Request { return new(echoRequest) },
}

// echoHandler answers Echo requests; anything else through memoryHandler.
type echoHandler struct{ memoryHandler }

func (h *echoHandler) Handle(req *Request, respond func(kmsg.Response)) {
	if e, ok := req.Body.(*echoRequest); ok {
		respond(&echoResponse{Payload: append([]byte(nil), e.Payload...)})
		return
	}
	h.memoryHandler.Handle(req, respond)
}

// A listener configured with a private API advertises and serves it; the
// client negotiates it like any key. A listener without it (the client
// listener) neither advertises nor serves it.
func TestPrivateAPI(t *testing.T) {
	controller := startServer(t, Config{ListenerName: "CONTROLLER", PrivateAPIs: []PrivateAPI{echoAPI}}, &echoHandler{})
	plain := startServer(t, Config{}, &echoHandler{})

	found := false
	for _, r := range controller.APIVersions() {
		if r.APIKey == echoKey {
			found = r.MinVersion == 0 && r.MaxVersion == 1
		}
	}
	if !found {
		t.Fatalf("Echo not advertised: %+v", controller.APIVersions())
	}
	for _, r := range plain.APIVersions() {
		if r.APIKey == echoKey {
			t.Fatal("a listener without private APIs advertises Echo")
		}
	}

	ctx := testContext(t, 10*time.Second)
	for _, maxVersion := range []int16{0, 1} {
		c := newTestClient(t, controller.Addr().String(), ClientConfig{
			APIVersions: []APIVersionRange{{APIKey: echoKey, MinVersion: 0, MaxVersion: maxVersion}},
		})
		payload := bytes.Repeat([]byte{byte(maxVersion + 1)}, 1000)
		resp, err := c.RoundTrip(ctx, &echoRequest{Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		echo := resp.Body.(*echoResponse)
		if echo.Version != maxVersion || !bytes.Equal(echo.Payload, payload) {
			t.Fatalf("Echo v%d answered v%d with %d bytes", maxVersion, echo.Version, len(echo.Payload))
		}
		roundTripMetadata(t, c, "kmsg-keys-still-work")
	}

	c := newTestClient(t, plain.Addr().String(), ClientConfig{})
	if _, err := c.RoundTrip(ctx, &echoRequest{}); !errors.Is(err, ErrNotServedByPeer) || !strings.Contains(err.Error(), "20001") {
		t.Fatalf("Echo to the client listener: %v", err)
	}

	// A client that sends it anyway (no negotiation) is disconnected.
	raw := dialRaw(t, plain.Addr(), "rogue")
	raw.write(appendRequestFrame(nil, &echoRequest{}, 1, kmsg.StringPtr("rogue")))
	raw.expectClosed()
}

func TestPrivateAPIConfigChecks(t *testing.T) {
	good := echoAPI
	cases := map[string]PrivateAPI{
		"a kmsg key":         {APIKey: 3, MaxVersion: 1, NewRequest: good.NewRequest},
		"negative key":       {APIKey: -2, MaxVersion: 1, NewRequest: good.NewRequest},
		"no constructor":     {APIKey: echoKey, MaxVersion: 1},
		"another key's type": {APIKey: echoKey + 1, MaxVersion: 1, NewRequest: good.NewRequest},
		"above the type":     {APIKey: echoKey, MaxVersion: 2, NewRequest: good.NewRequest},
		"min above max":      {APIKey: echoKey, MinVersion: 1, MaxVersion: 0, NewRequest: good.NewRequest},
	}
	for name, api := range cases {
		if _, err := NewServer(Config{PrivateAPIs: []PrivateAPI{api}}, &echoHandler{}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewServer(Config{PrivateAPIs: []PrivateAPI{good, good}}, &echoHandler{}, nil); err == nil {
		t.Error("a private key listed twice was accepted")
	}
	if _, err := NewServer(Config{PrivateAPIs: []PrivateAPI{good}}, &echoHandler{}, nil); err != nil {
		t.Errorf("a good private API: %v", err)
	}
}
