package netio

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sends made while the connection's writer goroutine waits write their
// requests inline; sends from many goroutines at once, acks=0 Produces
// among them (which only the writer goroutine takes), all complete with
// their own answers. With inline writes off, nothing is written inline.
func TestClientSendsInline(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			s := startServer(t, Config{}, &memoryHandler{maxDelay: time.Millisecond})
			c := newTestClient(t, s.Addr().String(), ClientConfig{MaxInFlightRequests: 3, noInlineWrites: !inline})
			for i := range 20 {
				roundTripMetadata(t, c, fmt.Sprintf("one-by-one-%d", i))
			}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						if i%10 == 9 {
							if o := await(t, sendAsync(t, c, produceRequest(9, 0, "t"), 0)); o.err != nil || o.resp != nil {
								t.Errorf("acks=0 Produce: %v, %v", o.resp, o.err)
							}
							continue
						}
						topic := fmt.Sprintf("g%d-%d", g, i)
						o := await(t, sendAsync(t, c, metadataRequest(12, topic), 0))
						if o.err != nil || metadataTopic(o.resp.Body) != topic {
							t.Errorf("Metadata %s: %v (answered for %q)", topic, o.err, metadataTopic(o.resp.Body))
							return
						}
						o.resp.Release()
					}
				}()
			}
			wg.Wait()
			got := c.inlineWritten.Load()
			if inline && got == 0 {
				t.Fatal("no request was written inline")
			}
			if !inline && got != 0 {
				t.Fatalf("%d inline writes with inline writes off", got)
			}
		})
	}
}

// A request larger than the socket takes at once is written inline as far
// as it goes and the writer goroutine writes the rest.
func TestClientInlineWriteHandsTheRestToTheWriter(t *testing.T) {
	s := startServer(t, Config{}, &memoryHandler{})
	smallSendBuffer := func(ctx context.Context, network, address string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, address)
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(8 << 10)
		}
		return nc, err
	}
	c := newTestClient(t, s.Addr().String(), ClientConfig{Dial: smallSendBuffer})
	roundTripMetadata(t, c, "connect")
	for round := range 3 {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		for i := range 1000 {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(fmt.Sprintf("r%d-%04d-%s", round, i, strings.Repeat("y", 240)))
			req.Topics = append(req.Topics, rt)
		}
		o := await(t, sendAsync(t, c, req, 0))
		if o.err != nil {
			t.Fatal(o.err)
		}
		resp := o.resp.Body.(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1000 || !strings.HasPrefix(*resp.Topics[999].Topic, fmt.Sprintf("r%d-0999-", round)) {
			t.Fatalf("round %d: %d topics answered", round, len(resp.Topics))
		}
		o.resp.Release()
	}
	if c.inlineWritten.Load() == 0 || c.inlineHandedOn.Load() == 0 {
		t.Fatalf("inline writes %d, handed on to the writer %d: want both", c.inlineWritten.Load(), c.inlineHandedOn.Load())
	}
}
