package actors

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// duplicatingProxy forwards Kafka frames between clients and a broker. Every
// cutEvery-th Produce answer is dropped and the client's connection closed;
// every answered Produce request is also kept, and replayed to the broker on
// the proxy's own connection after a few later ones (so out of order).
type duplicatingProxy struct {
	l        net.Listener
	broker   string
	produces atomic.Int64
	cut      atomic.Int64
	replayed atomic.Int64
	replay   chan []byte
}

const proxyCutEvery = 7

func startDuplicatingProxy(t *testing.T, broker string) *duplicatingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startDuplicatingProxyOn(t, l, broker)
}

func startDuplicatingProxyOn(t *testing.T, l net.Listener, broker string) *duplicatingProxy {
	t.Helper()
	px := &duplicatingProxy{l: l, broker: broker, replay: make(chan []byte, 1024)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		_ = l.Close()
		wg.Wait()
	})
	wg.Add(2)
	go func() {
		defer wg.Done()
		px.replayer(done)
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				px.serve(c, done)
			}()
		}
	}()
	return px
}

func (px *duplicatingProxy) addr() string { return px.l.Addr().String() }

// readFrame reads one size-prefixed Kafka frame, prefix included.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// serve relays one client connection.
func (px *duplicatingProxy) serve(client net.Conn, done chan struct{}) {
	defer client.Close()
	broker, err := net.Dial("tcp", px.broker)
	if err != nil {
		return
	}
	defer broker.Close()
	go func() {
		<-done
		client.Close()
	}()
	var mu sync.Mutex
	// produceCorr holds the Produce requests awaiting their answer.
	produceCorr := map[int32][]byte{}
	go func() {
		defer broker.Close()
		for {
			frame, err := readFrame(client)
			if err != nil {
				return
			}
			if len(frame) >= 12 && binary.BigEndian.Uint16(frame[4:]) == 0 {
				mu.Lock()
				produceCorr[int32(binary.BigEndian.Uint32(frame[8:]))] = frame
				mu.Unlock()
			}
			if _, err := broker.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := readFrame(broker)
		if err != nil {
			return
		}
		corr := int32(binary.BigEndian.Uint32(frame[4:]))
		mu.Lock()
		request, produce := produceCorr[corr]
		delete(produceCorr, corr)
		mu.Unlock()
		if produce {
			// Answered: the broker handled it, and a copy sent now is a
			// late retry.
			select {
			case px.replay <- request:
			default:
			}
		}
		if produce && px.produces.Add(1)%proxyCutEvery == 0 {
			// The answer is lost: the producer sees the connection
			// fail and retries what the broker already appended.
			px.cut.Add(1)
			return
		}
		if _, err := client.Write(frame); err != nil {
			return
		}
	}
}

// replayer sends each kept Produce request again, a few requests late, on
// its own connection; the answers are read and dropped.
func (px *duplicatingProxy) replayer(done chan struct{}) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var held [][]byte
	for {
		select {
		case <-done:
			return
		case frame := <-px.replay:
			held = append(held, frame)
		}
		if len(held) < 4 {
			continue
		}
		// Send the newest first: the others follow, out of order.
		frame := held[len(held)-1]
		held = held[:len(held)-1]
		if len(held) > 8 {
			frame, held = held[0], held[1:]
		}
		if conn == nil {
			c, err := net.Dial("tcp", px.broker)
			if err != nil {
				continue
			}
			conn = c
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
		if _, err := conn.Write(frame); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				conn.Close()
			}
			conn = nil
			continue
		}
		px.replayed.Add(1)
	}
}
