package netio

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// actorHandler answers every request from a goroutine of its own, as a
// partition actor answers a follower's Fetch.
type actorHandler struct{ work chan func() }

func (h actorHandler) Handle(req *Request, respond func(kmsg.Response)) {
	body := req.Body.(*kmsg.MetadataRequest)
	h.work <- func() {
		resp := body.ResponseKind().(*kmsg.MetadataResponse)
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = body.Topics[0].Topic
		resp.Topics = append(resp.Topics, topic)
		respond(resp)
	}
}

// BenchmarkRoundTripHandoffs is a replica fetcher's loop at its smallest:
// one request at a time, answered by another goroutine of the server (an
// actor), the next sent from another goroutine of the client (the fetcher
// actor) once the answer came. It reports the process's CPU per round trip,
// with and without inline writes.
func BenchmarkRoundTripHandoffs(b *testing.B) {
	for _, inline := range []bool{false, true} {
		b.Run(fmt.Sprintf("inline=%v", inline), func(b *testing.B) {
			h := actorHandler{work: make(chan func(), 16)}
			go func() {
				for fn := range h.work {
					fn()
				}
			}()
			defer close(h.work)
			s := startServer(b, Config{noInlineWrites: !inline}, h)
			c := newTestClient(b, s.Addr().String(), ClientConfig{noInlineWrites: !inline})
			roundTripMetadata(b, c, "warm-up")
			actor := make(chan *Response, 1)
			send := func() {
				if err := c.Send(metadataRequest(12, "t"), 10*time.Second, func(resp *Response, err error) {
					if err != nil {
						panic(err)
					}
					actor <- resp
				}); err != nil {
					panic(err)
				}
			}
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			send()
			for i := 0; i < b.N; i++ {
				resp := <-actor
				resp.Release()
				if i+1 < b.N {
					send()
				}
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(syscall.TimevalToNsec(after.Utime) + syscall.TimevalToNsec(after.Stime) -
				syscall.TimevalToNsec(before.Utime) - syscall.TimevalToNsec(before.Stime))
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(after.Nvcsw+after.Nivcsw-before.Nvcsw-before.Nivcsw)/float64(b.N), "ctxsw/op")
		})
	}
}
