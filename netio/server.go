package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("netio: server closed")

// Bounds of the accept loop's back-off after a temporary accept error (out of
// file descriptors, for instance).
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// lastConnID numbers the connections of every Server in the process, so a
// ConnInfo.ID names one connection among all listeners.
var lastConnID atomic.Uint64

// Server accepts Kafka connections and hands their requests to a Handler.
type Server struct {
	cfg      Config
	handler  Handler
	log      *zap.Logger
	versions *versionTable
	identity brokerIdentity
	observer Observer
	// pool holds the buffers of request frames (when pooled) and of
	// response encoding, shared by every connection.
	pool *bufferPool
	// inlineWritten counts answers written inline (writer_inline.go),
	// inlineHandedOn the inline writes that left bytes to the writer
	// goroutine (tests).
	inlineWritten, inlineHandedOn atomic.Int64

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	firstAddr net.Addr
	conns     map[*conn]struct{}
	// connsDone is signalled when conns becomes empty while closing.
	connsDone chan struct{}
	// serving counts running accept loops and connection goroutines.
	serving sync.WaitGroup
}

// NewServer checks cfg and returns a server that is not yet listening.
func NewServer(cfg Config, handler Handler, logger *zap.Logger) (*Server, error) {
	if handler == nil {
		return nil, errors.New("netio: nil handler")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("netio config: %w", err)
	}
	versions, err := newVersionTable(cfg.APIVersions, cfg.ClusterID != "")
	if err == nil {
		err = versions.addPrivate(cfg.PrivateAPIs)
	}
	if err == nil {
		err = versions.advertiseFromZero(cfg.AdvertiseFromZero)
	}
	if err != nil {
		return nil, fmt.Errorf("netio config: %w", err)
	}
	return &Server{
		cfg:       cfg,
		handler:   handler,
		log:       logger,
		versions:  versions,
		identity:  brokerIdentity{clusterID: cfg.ClusterID, nodeID: cfg.NodeID},
		observer:  cfg.Observer,
		pool:      newBufferPool(cfg.BufferPoolBytes, cfg.PoisonReleasedBuffers),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		connsDone: make(chan struct{}),
	}, nil
}

// APIVersions returns the served table, ApiVersions included, sorted by key.
func (s *Server) APIVersions() []APIVersionRange {
	return append([]APIVersionRange(nil), s.versions.sorted...)
}

// Start listens on the Config's Address and serves in the background; it
// returns once the listener is open.
func (s *Server) Start() error {
	l, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", s.cfg.Address, err)
	}
	if err := s.track(l); err != nil {
		_ = l.Close()
		return err
	}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := s.acceptLoop(l); err != nil && !errors.Is(err, ErrServerClosed) {
			s.log.Error("accept loop stopped", zap.Stringer("listener", l.Addr()), zap.Error(err))
		}
	}()
	return nil
}

// ListenAndServe listens on the Config's Address and serves until Shutdown or
// Close (then it returns ErrServerClosed) or an accept error.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", s.cfg.Address, err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close (then it returns
// ErrServerClosed) or an accept error. It takes ownership of l.
func (s *Server) Serve(l net.Listener) error {
	if err := s.track(l); err != nil {
		_ = l.Close()
		return err
	}
	s.serving.Add(1)
	defer s.serving.Done()
	return s.acceptLoop(l)
}

// Addr is the address of the first listener, nil before one is open.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstAddr
}

// track registers a listener, unless the server is closing.
func (s *Server) track(l net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if s.firstAddr == nil {
		s.firstAddr = l.Addr()
	}
	return nil
}

// acceptLoop accepts until the listener fails or the server closes.
func (s *Server) acceptLoop(l net.Listener) error {
	backoff := time.Duration(0)
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporaryAcceptError(err) {
				backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
				s.log.Warn("accept failed, retrying", zap.Error(err), zap.Duration("backoff", backoff))
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept on %s: %w", l.Addr(), err)
		}
		backoff = 0
		s.startConn(nc)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// startConn registers and serves an accepted connection, or closes it when the
// server is closing or max.connections are open.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		open := len(s.conns)
		s.mu.Unlock()
		if s.observer != nil {
			s.observer.ConnectionRefused()
		}
		_ = nc.Close()
		s.log.Warn("refused connection: max.connections reached",
			zap.Stringer("remote_addr", nc.RemoteAddr()), zap.Int("max_connections", s.cfg.MaxConnections),
			zap.Int("open_connections", open))
		return
	}
	s.sizeBuffers(nc)
	c := newConn(s, nc, lastConnID.Add(1))
	s.conns[c] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	if s.observer != nil {
		s.observer.ConnectionOpened()
	}
	go func() {
		defer s.serving.Done()
		c.serve()
		s.forget(c)
		if s.observer != nil {
			s.observer.ConnectionClosed()
		}
	}()
}

// forget unregisters a finished connection.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 {
		s.signalConnsDone()
	}
}

// signalConnsDone closes connsDone once; s.mu is held.
func (s *Server) signalConnsDone() {
	select {
	case <-s.connsDone:
	default:
		close(s.connsDone)
	}
}

// beginClosing stops accepting: it marks the server closing, closes the
// listeners and returns the open connections.
func (s *Server) beginClosing() ([]*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener %s: %w", l.Addr(), err))
		}
		delete(s.listeners, l)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	if len(s.conns) == 0 {
		s.signalConnsDone()
	}
	return conns, errors.Join(errs...)
}

// Shutdown stops accepting, stops reading requests, lets the requests in
// flight write their responses, and closes every connection. If ctx ends
// first, the remaining connections are closed at once and ctx's error is
// returned. Shutdown returns after every goroutine of the server has ended.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, err := s.beginClosing()
	for _, c := range conns {
		c.beginDrain()
	}
	select {
	case <-s.connsDone:
	case <-ctx.Done():
		s.closeConns()
		err = errors.Join(err, ctx.Err())
	}
	s.serving.Wait()
	return err
}

// Close stops accepting and closes every connection at once, dropping the
// responses in flight. It returns after every goroutine of the server has
// ended.
func (s *Server) Close() error {
	_, err := s.beginClosing()
	s.closeConns()
	s.serving.Wait()
	return err
}

// closeConns closes every open connection.
func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// OpenConnections is the number of connections being served.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// isTemporaryAcceptError reports accept errors that pass: the process or the
// system is short of descriptors or memory, or a peer gave up mid-handshake.
func isTemporaryAcceptError(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// sizeBuffers sets the socket buffers Config asks for on an accepted
// connection; a failure leaves the OS's and is logged.
func (s *Server) sizeBuffers(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	if n := s.cfg.SendBufferBytes; n > 0 {
		if err := tc.SetWriteBuffer(n); err != nil {
			s.log.Warn("socket.send.buffer.bytes not applied", zap.Int("bytes", n), zap.Error(err))
		}
	}
	if n := s.cfg.ReceiveBufferBytes; n > 0 {
		if err := tc.SetReadBuffer(n); err != nil {
			s.log.Warn("socket.receive.buffer.bytes not applied", zap.Int("bytes", n), zap.Error(err))
		}
	}
}
