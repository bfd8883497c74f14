package netio

import (
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults of the Config fields, with Kafka's values where Kafka has the
// setting.
const (
	// DefaultRequestMaxBytes is Kafka's socket.request.max.bytes default
	// (100 MiB).
	DefaultRequestMaxBytes = 100 * 1024 * 1024
	// DefaultMaxConnections is Kafka's max.connections default
	// (Int.MaxValue, in effect unlimited).
	DefaultMaxConnections = math.MaxInt32
	// DefaultConnectionsMaxIdleMs is Kafka's connections.max.idle.ms
	// default (10 minutes).
	DefaultConnectionsMaxIdleMs = 600_000
	// DefaultMaxInFlightRequests bounds the requests of one connection that
	// are decoded but whose response is not yet written.
	DefaultMaxInFlightRequests = 100
	// DefaultListenerName is the listener name given to requests when the
	// Config names none.
	DefaultListenerName = "PLAINTEXT"
	// DefaultBufferPoolBytes bounds the free buffers a Server keeps for
	// reuse (request frames, response encoding): enough for a few dozen
	// 1 MiB produce requests in flight at once, and small beside the page
	// cache a broker wants.
	DefaultBufferPoolBytes = 64 << 20
	// AnonymousPrincipal is the principal of every connection until
	// authentication exists.
	AnonymousPrincipal = "User:ANONYMOUS"
)

// apiVersionsKey is the API key of ApiVersions, which netio answers itself.
const apiVersionsKey = 18

// Versions of ApiVersions that netio implements. v5 (KIP-1242) is served only
// when the Config names the cluster and node, because its semantics are a
// check of both.
const (
	apiVersionsMaxWithoutIdentity = 4
	apiVersionsMaxWithIdentity    = 5
)

// APIVersionRange is one API key the broker serves and the versions it serves
// it at, inclusive; an entry of the ApiVersions response.
type APIVersionRange struct {
	APIKey     int16
	MinVersion int16
	MaxVersion int16
}

// Config configures a Server. Zero fields take the defaults above.
type Config struct {
	// Address is the host:port ListenAndServe listens on (Kafka's
	// listeners, one listener). Serve ignores it.
	Address string
	// ListenerName names the listener in each request's ConnInfo (Kafka's
	// listener name, e.g. PLAINTEXT).
	ListenerName string
	// RequestMaxBytes is socket.request.max.bytes: a larger frame closes
	// the connection.
	RequestMaxBytes int32
	// MaxConnections is max.connections: a connection accepted while this
	// many are open is closed at once.
	MaxConnections int
	// SendBufferBytes and ReceiveBufferBytes are socket.send.buffer.bytes
	// and socket.receive.buffer.bytes: SO_SNDBUF and SO_RCVBUF of each
	// accepted connection. Zero or negative leaves the OS's (autotuned)
	// buffers.
	SendBufferBytes, ReceiveBufferBytes int
	// ConnectionsMaxIdleMs is connections.max.idle.ms: a connection with
	// nothing in flight that neither reads nor writes a byte for this long
	// is closed. Negative disables the timeout (not a Kafka value).
	ConnectionsMaxIdleMs int64
	// MaxInFlightRequests bounds the requests read from one connection
	// whose responses are not yet written; when full, the connection stops
	// reading until the oldest response is written (backpressure).
	MaxInFlightRequests int
	// APIVersions is the table of API keys and versions the broker serves,
	// given by the request router. A request for another key or version
	// closes its connection. ApiVersions (key 18) is answered by netio and
	// added to the table unless listed here (then within 0..5).
	APIVersions []APIVersionRange
	// AdvertiseFromZero are served keys the ApiVersions answer lists from
	// version 0 while their APIVersions range is served (a request below
	// it closes its connection as any version not served does). Kafka 4
	// lists Produce so (KAFKA-18659): librdkafka turns gzip, snappy and lz4
	// on only for a broker that lists Produce v2, and else produces
	// uncompressed.
	AdvertiseFromZero []int16
	// PrivateAPIs are API keys unknown to kmsg that this listener also
	// serves and advertises in ApiVersions, with request and response
	// types the caller supplies (gregor's inter-node APIs, such as the
	// raft transport on the CONTROLLER listener). A listener for clients
	// lists none.
	PrivateAPIs []PrivateAPI
	// ClusterID and NodeID identify this broker for ApiVersions v5
	// (KIP-1242), which is served only when ClusterID is set.
	ClusterID string
	NodeID    int32
	// Observer receives metrics events; nil means no metrics.
	Observer Observer
	// Features, when set, gives the feature levels ApiVersions v3+
	// advertises (18_api_versions_features.go); it is called for every
	// ApiVersions answer, from connection goroutines, and must not block.
	Features func() *Features
	// PoolRequestBuffers reads each request frame into a buffer from the
	// server's pool and returns it there once the request is done with it
	// (see Request.Retain), instead of allocating a frame per request that
	// the handler may keep. Off by default: a handler must retain what it
	// keeps before it can turn this on.
	PoolRequestBuffers bool
	// BufferPoolBytes bounds the bytes of free buffers the server's pool
	// keeps (request frames when pooled, response encoding buffers); a
	// buffer released beyond it goes to the garbage collector. Zero means
	// DefaultBufferPoolBytes; negative keeps none.
	BufferPoolBytes int64
	// PoisonReleasedBuffers overwrites every buffer released to the pool
	// and checks, when the pool hands it out again, that nobody wrote to
	// it meanwhile; a buffer released twice panics. For tests: a use after
	// release then reads poison instead of plausible bytes. It costs a pass
	// over every buffer at release and at reuse.
	PoisonReleasedBuffers bool
	// noInlineWrites leaves every write to the writer goroutine (tests:
	// the path a connection without a raw socket takes).
	noInlineWrites bool
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.ListenerName == "" {
		cfg.ListenerName = DefaultListenerName
	}
	if cfg.RequestMaxBytes == 0 {
		cfg.RequestMaxBytes = DefaultRequestMaxBytes
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.ConnectionsMaxIdleMs == 0 {
		cfg.ConnectionsMaxIdleMs = DefaultConnectionsMaxIdleMs
	}
	if cfg.MaxInFlightRequests == 0 {
		cfg.MaxInFlightRequests = DefaultMaxInFlightRequests
	}
	if cfg.BufferPoolBytes == 0 {
		cfg.BufferPoolBytes = DefaultBufferPoolBytes
	}
	return cfg
}

// idleTimeout is ConnectionsMaxIdleMs as a duration, 0 when disabled.
func (cfg *Config) idleTimeout() time.Duration {
	if cfg.ConnectionsMaxIdleMs < 0 {
		return 0
	}
	return time.Duration(cfg.ConnectionsMaxIdleMs) * time.Millisecond
}

// validate reports the first setting out of range; cfg has its defaults.
func (cfg *Config) validate() error {
	switch {
	case cfg.RequestMaxBytes < 0:
		return fmt.Errorf("socket.request.max.bytes %d is negative", cfg.RequestMaxBytes)
	case cfg.MaxConnections < 0:
		return fmt.Errorf("max.connections %d is negative", cfg.MaxConnections)
	case cfg.MaxInFlightRequests < 0:
		return fmt.Errorf("max in-flight requests %d is negative", cfg.MaxInFlightRequests)
	}
	return nil
}

// versionTable answers whether an API key and version are served. It is
// indexed by key and never changes after newVersionTable.
type versionTable struct {
	byKey  []versionRangeEntry
	sorted []APIVersionRange // the ApiVersions response entries, by key
	// fromZero are the keys the ApiVersions answer lists from version 0
	// (Config.AdvertiseFromZero).
	fromZero map[int16]bool
	// private holds the served keys unknown to kmsg (private.go).
	private map[int16]privateEntry
}

type versionRangeEntry struct {
	served                 bool
	minVersion, maxVersion int16
}

// newVersionTable checks the router's table against kmsg and adds ApiVersions.
func newVersionTable(ranges []APIVersionRange, identified bool) (*versionTable, error) {
	apiVersionsMax := int16(apiVersionsMaxWithoutIdentity)
	if identified {
		apiVersionsMax = apiVersionsMaxWithIdentity
	}
	all := make([]APIVersionRange, 0, len(ranges)+1)
	all = append(all, ranges...)
	hasAPIVersions := false
	for _, r := range ranges {
		if r.APIKey == apiVersionsKey {
			hasAPIVersions = true
			if r.MaxVersion > apiVersionsMax {
				return nil, fmt.Errorf("ApiVersions max version %d above the %d netio implements", r.MaxVersion, apiVersionsMax)
			}
		}
	}
	if !hasAPIVersions {
		all = append(all, APIVersionRange{APIKey: apiVersionsKey, MinVersion: 0, MaxVersion: apiVersionsMax})
	}
	t := &versionTable{}
	for _, r := range all {
		req := kmsg.RequestForKey(r.APIKey)
		switch {
		case req == nil:
			return nil, fmt.Errorf("API key %d is unknown to kmsg", r.APIKey)
		case r.MinVersion < 0 || r.MinVersion > r.MaxVersion:
			return nil, fmt.Errorf("API key %d: bad version range %d..%d", r.APIKey, r.MinVersion, r.MaxVersion)
		case r.MaxVersion > req.MaxVersion():
			return nil, fmt.Errorf("API key %d: max version %d above kmsg's %d", r.APIKey, r.MaxVersion, req.MaxVersion())
		}
		for int(r.APIKey) >= len(t.byKey) {
			t.byKey = append(t.byKey, versionRangeEntry{})
		}
		if t.byKey[r.APIKey].served {
			return nil, fmt.Errorf("API key %d listed twice", r.APIKey)
		}
		t.byKey[r.APIKey] = versionRangeEntry{served: true, minVersion: r.MinVersion, maxVersion: r.MaxVersion}
	}
	for key, e := range t.byKey {
		if e.served {
			t.sorted = append(t.sorted, APIVersionRange{APIKey: int16(key), MinVersion: e.minVersion, MaxVersion: e.maxVersion})
		}
	}
	return t, nil
}

// lookup returns the served range of key.
func (t *versionTable) lookup(key int16) (versionRangeEntry, bool) {
	if key < 0 || int(key) >= len(t.byKey) || !t.byKey[key].served {
		return t.lookupPrivate(key)
	}
	return t.byKey[key], true
}

// advertiseFromZero marks keys the ApiVersions answer lists from version 0;
// each must be served.
func (t *versionTable) advertiseFromZero(keys []int16) error {
	for _, k := range keys {
		if _, ok := t.lookup(k); !ok {
			return fmt.Errorf("API key %d is advertised from version 0 but not served", k)
		}
		if t.fromZero == nil {
			t.fromZero = make(map[int16]bool, len(keys))
		}
		t.fromZero[k] = true
	}
	return nil
}
