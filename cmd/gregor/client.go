package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// defaultBrokers is where the client verbs connect without -b or
// GREGOR_BROKERS.
const defaultBrokers = "127.0.0.1:9092"

// brokersEnv names the environment variable with the seed brokers.
const brokersEnv = "GREGOR_BROKERS"

// clientOptions are the flags every client verb shares.
type clientOptions struct {
	brokers  []string
	logLevel string
}

// register adds the shared flags to cmd and its subcommands.
func (o *clientOptions) register(cmd *cobra.Command) {
	flags := cmd.PersistentFlags()
	flags.StringSliceVarP(&o.brokers, "brokers", "b", nil,
		"comma-separated seed brokers host:port (default $"+brokersEnv+", else "+defaultBrokers+")")
	flags.StringVar(&o.logLevel, "log-level", "warn", "client log level: debug, info, warn, error")
}

// seedBrokers returns -b if given, else $GREGOR_BROKERS, else the default.
func (o *clientOptions) seedBrokers() []string { return seedList(o.brokers) }

// seedList returns the -b list given, else $GREGOR_BROKERS, else the
// default.
func seedList(list []string) []string {
	if len(list) == 0 {
		list = strings.Split(os.Getenv(brokersEnv), ",")
	}
	var seeds []string
	for _, b := range list {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, withDefaultPort(b))
		}
	}
	if len(seeds) == 0 {
		seeds = []string{defaultBrokers}
	}
	return seeds
}

// withDefaultPort gives a seed named without a port Kafka's 9092, the port
// kgo dials it on, so that the seeds compare with the address a refused
// connection names and liveSeeds can dial them.
func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	return net.JoinHostPort(host, "9092")
}

// seedDialTimeout bounds how long liveSeeds waits for a seed broker.
const seedDialTimeout = time.Second

// liveSeeds returns the seeds that accept a TCP connection within timeout
// (dialled at once), or all of them when none does, so that the client's
// error names what refused it. franz-go keeps every seed among the brokers
// it sends a coordinator lookup to (FindCoordinator, before DescribeGroups,
// OffsetFetch, DescribeTransactions...) and does not try the next broker
// when that dial is refused: with one of three seeds down, a quarter of
// `gregor group describe` runs failed with "unable to dial".
func liveSeeds(seeds []string, timeout time.Duration) []string {
	if len(seeds) < 2 {
		return seeds
	}
	live := make([]bool, len(seeds))
	var wg sync.WaitGroup
	for i, addr := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := net.DialTimeout("tcp", addr, timeout); err == nil {
				live[i] = true
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	var out []string
	for i, addr := range seeds {
		if live[i] {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return seeds
	}
	return out
}

// clientSession is what a client verb runs with: kgo clients, a logger, and
// a stderr that the logger, the progress bar and the verb share.
type clientSession struct {
	client  *kgo.Client   // the first client, made by open
	clients []*kgo.Client // every client, closed by close
	logger  *zap.Logger
	stderr  io.Writer
	seeds   []kgo.Opt // seed brokers and logger, for further clients
}

// open connects a client to the seed brokers with the verb's options added.
func (o *clientOptions) open(cmd *cobra.Command, extra ...kgo.Opt) (*clientSession, error) {
	level, _, ok := parseLogLevel(o.logLevel)
	if !ok {
		return nil, fmt.Errorf("--log-level %q: want one of debug, info, warn, error", o.logLevel)
	}
	stderr := &lockedWriter{w: cmd.ErrOrStderr()}
	logger, err := newLogger(level, "console", zapcore.AddSync(stderr))
	if err != nil {
		return nil, err
	}
	s := &clientSession{logger: logger, stderr: stderr, seeds: []kgo.Opt{
		kgo.SeedBrokers(liveSeeds(o.seedBrokers(), seedDialTimeout)...),
		kgo.ClientID(clientID(cmd)),
		// The caller would always be kgoLogger.Log, and a stack trace
		// kgo's internals: leave both out of a user's terminal.
		kgo.WithLogger(kgoLogger{logger: logger.Named("kgo").WithOptions(zap.WithCaller(false), zap.AddStacktrace(zapcore.InvalidLevel)), level: level}),
	}}
	if s.client, err = s.connect(extra...); err != nil {
		_ = logger.Sync()
		return nil, err
	}
	return s, nil
}

// reachTimeout bounds reach: long enough for a loaded broker to answer, and
// for kgo's 10 s dial timeout to a host that drops connection attempts.
const reachTimeout = 15 * time.Second

// reach fails unless a seed broker answers a metadata request and a broker
// that metadata names accepts connections. A producer needs it: kgo retries
// a record whose brokers cannot be dialled until its delivery timeout (30 s
// by default), where the admin verbs fail at their first request. Each seed
// is asked once, so refused connections fail at once; so does a cluster
// whose every advertised address refuses them (advertised.listeners naming
// an address nothing listens on).
func (s *clientSession) reach(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	var md *kmsg.MetadataResponse
	var err error
	for _, seed := range s.client.SeedBrokers() {
		var resp kmsg.Response
		if resp, err = seed.Request(ctx, req); err == nil {
			md = resp.(*kmsg.MetadataResponse)
			break
		}
	}
	if md == nil {
		return fmt.Errorf("no seed broker answered: %w", err)
	}
	addrs := make([]string, 0, len(md.Brokers))
	for _, b := range md.Brokers {
		addrs = append(addrs, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
	if err := anyAccepts(addrs, seedDialTimeout); err != nil {
		return fmt.Errorf("no broker of the cluster accepts connections: %w", err)
	}
	return nil
}

// anyAccepts dials addrs at once and returns nil as soon as one accepts a
// TCP connection within timeout, else the error of the first to fail.
func anyAccepts(addrs []string, timeout time.Duration) error {
	if len(addrs) == 0 {
		return nil // a cluster with no broker registered yet: kgo waits for one
	}
	errs := make(chan error, len(addrs))
	for _, addr := range addrs {
		go func() {
			c, err := net.DialTimeout("tcp", addr, timeout)
			if err == nil {
				_ = c.Close()
			}
			errs <- err
		}()
	}
	var first error
	for range addrs {
		err := <-errs
		if err == nil {
			return nil
		}
		first = cmp.Or(first, err)
	}
	return first
}

// clientID names the verb's clients to the brokers ("gregor-consume",
// "gregor-perf-produce"), as Kafka's console consumer is
// "console-consumer": group describe and the brokers' logs show which
// clients are the CLI's.
func clientID(cmd *cobra.Command) string {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return "gregor-" + strings.ReplaceAll(path, " ", "-")
}

// connect makes another client to the same brokers, for options that only
// NewClient takes (such as the partitions to consume).
func (s *clientSession) connect(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(slices.Clone(s.seeds), extra...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	s.clients = append(s.clients, client)
	return client, nil
}

// close closes every client and flushes the logger.
func (s *clientSession) close() {
	for _, c := range s.clients {
		c.Close()
	}
	_ = s.logger.Sync()
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write implements io.Writer.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// kgoLogger hands kgo's log lines to zap.
type kgoLogger struct {
	logger *zap.Logger
	level  zapcore.Level
}

// Level implements kgo.Logger.
func (k kgoLogger) Level() kgo.LogLevel {
	switch {
	case k.level <= zapcore.DebugLevel:
		return kgo.LogLevelDebug
	case k.level == zapcore.InfoLevel:
		return kgo.LogLevelInfo
	case k.level == zapcore.WarnLevel:
		return kgo.LogLevelWarn
	default:
		return kgo.LogLevelError
	}
}

// Log implements kgo.Logger.
func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(keyvals[i]), keyvals[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		k.logger.Error(msg, fields...)
	case kgo.LogLevelWarn:
		k.logger.Warn(msg, fields...)
	case kgo.LogLevelInfo:
		k.logger.Info(msg, fields...)
	default:
		k.logger.Debug(msg, fields...)
	}
}

// defaultAdminTimeout bounds each admin verb's requests unless --timeout
// says otherwise, so a missing broker ends in an error instead of kgo's
// retries going on for ever.
const defaultAdminTimeout = 30 * time.Second

// adminOptions are the flags the admin verbs (topic, group, txn, features)
// share: where to connect, and how long their requests may take.
type adminOptions struct {
	client  clientOptions
	timeout time.Duration
}

// register adds the flags to cmd for its subcommands; what names the verb's
// requests in --timeout's help ("" for none).
func (o *adminOptions) register(cmd *cobra.Command, what string) {
	o.client.register(cmd)
	help := "how long a request may take"
	if what != "" {
		help = "how long a " + what + " request may take"
	}
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", defaultAdminTimeout, help)
}

// withClient runs fn with a client and a context bounded by --timeout.
func (o *adminOptions) withClient(cmd *cobra.Command, fn func(ctx context.Context, cl *kgo.Client) error) error {
	session, err := o.client.open(cmd)
	if err != nil {
		return err
	}
	defer session.close()
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	return fn(ctx, session.client)
}

// withAdmin runs fn with an admin client and a context bounded by --timeout.
func (o *adminOptions) withAdmin(cmd *cobra.Command, fn func(ctx context.Context, adm *kadm.Client) error) error {
	return o.withClient(cmd, func(ctx context.Context, cl *kgo.Client) error { return fn(ctx, kadm.NewClient(cl)) })
}
