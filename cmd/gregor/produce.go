package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producerFlags are the producing flags produce and perf produce share.
type producerFlags struct {
	acks            string
	compression     string
	idempotent      bool
	partition       int32
	linger          time.Duration
	deliveryTimeout time.Duration
	// transactional is set by produce --transactional-id: the producer is
	// idempotent, as transactions need.
	transactional bool
}

// register adds the producing flags to flags.
func (p *producerFlags) register(flags *pflag.FlagSet) {
	flags.StringVar(&p.acks, "acks", "all", "acknowledgements to wait for: all (-1), 1 (leader) or 0 (none)")
	flags.StringVarP(&p.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4, zstd")
	flags.BoolVar(&p.idempotent, "idempotent", false, "use the idempotent producer (needs acks=all): retries are never appended twice")
	flags.Int32VarP(&p.partition, "partition", "p", -1, "partition to produce to (-1: Kafka's default partitioner: by the key's murmur2 hash; records without a key go to one partition 64 KiB at a time)")
	flags.DurationVar(&p.linger, "linger", 10*time.Millisecond, "how long a partition waits for more records before sending a batch")
	flags.DurationVar(&p.deliveryTimeout, "delivery-timeout", defaultDeliveryTimeout,
		"how long a record may take to be acknowledged, retries included, before it fails (0: no limit; else at least 1s)")
}

// defaultDeliveryTimeout bounds each record, so a broker that is down or
// misnamed ends a produce in an error instead of kgo retrying for ever.
const defaultDeliveryTimeout = 30 * time.Second

// kgoOptions turns the flags into kgo producer options.
func (p *producerFlags) kgoOptions() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch p.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("--acks %q: want all, -1, 1 or 0", p.acks)
	}
	switch {
	case p.transactional:
		if p.acks != "all" && p.acks != "-1" {
			return nil, fmt.Errorf("--transactional-id needs --acks all, not %s", p.acks)
		}
	case p.idempotent:
		if p.acks != "all" && p.acks != "-1" {
			return nil, fmt.Errorf("--idempotent needs --acks all, not %s", p.acks)
		}
	default:
		// kgo's default is idempotent, which acks 0 and 1 cannot be.
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	codec, err := compressionCodec(p.compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(p.linger))
	if p.deliveryTimeout != 0 {
		if p.deliveryTimeout < time.Second { // kgo's own lower bound
			return nil, fmt.Errorf("--delivery-timeout %s: want 0 (no limit) or at least 1s", p.deliveryTimeout)
		}
		opts = append(opts, kgo.RecordDeliveryTimeout(p.deliveryTimeout))
	}
	if p.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} else if p.partition != -1 {
		return nil, fmt.Errorf("--partition %d: want -1 or a partition number", p.partition)
	}
	return opts, nil
}

// compressionCodec maps a codec name to kgo's codec.
func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// produceOptions are the flags of gregor produce.
type produceOptions struct {
	client       clientOptions
	producer     producerFlags
	keySeparator string
	delimiter    string
	headers      []string
	maxLineBytes int
	quiet        bool
	// transactionalID, when set, produces every record in one
	// transaction, committed at the end (aborted with abort).
	transactionalID string
	abort           bool
}

func newProduceCommand() *cobra.Command {
	opts := &produceOptions{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of stdin",
		Long: `Produce one record per line of stdin. With --key-separator, a line is split
at the first separator into key and value (a line without it is a value with
no key). Every record carries the --header key=value headers. Each
acknowledged record is printed as "TOPIC[PARTITION]@OFFSET" unless --quiet;
with --acks 0 the broker sends no reply, so no offset is known and only
"TOPIC[PARTITION]" is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, opts, args[0])
		},
	}
	opts.client.register(cmd)
	opts.producer.register(cmd.Flags())
	flags := cmd.Flags()
	flags.StringVarP(&opts.keySeparator, "key-separator", "k", "", "split each line at the first SEP into key and value")
	flags.StringVarP(&opts.delimiter, "delimiter", "d", "\n", `record delimiter in the input, where \n, \t and \\ are escapes (\n also strips a trailing \r)`)
	flags.StringArrayVarP(&opts.headers, "header", "H", nil, "header key=value for every record (repeatable)")
	flags.IntVar(&opts.maxLineBytes, "max-line-bytes", 1<<20, "longest input record accepted (the topic's max.message.bytes bounds what its brokers take)")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "do not print each record's partition and offset")
	flags.StringVar(&opts.transactionalID, "transactional-id", "", "produce every record in one transaction of this transactional id, committed once all are acknowledged")
	flags.BoolVar(&opts.abort, "abort", false, "with --transactional-id: abort the transaction instead of committing it")
	acceptTopicFlag(cmd)
	return cmd
}

// runProduce reads records from stdin and produces them, reporting every
// acknowledgement; it fails if any record failed.
func runProduce(cmd *cobra.Command, opts *produceOptions, topic string) error {
	headers, err := parseHeaders(opts.headers)
	if err != nil {
		return err
	}
	delimiter, err := parseDelimiter(opts.delimiter)
	if err != nil {
		return err
	}
	if opts.abort && opts.transactionalID == "" {
		return errors.New("--abort needs --transactional-id")
	}
	opts.producer.transactional = opts.transactionalID != ""
	producerOpts, err := opts.producer.kgoOptions()
	if err != nil {
		return err
	}
	if opts.transactionalID != "" {
		producerOpts = append(producerOpts, kgo.TransactionalID(opts.transactionalID))
	}
	limit := newBatchLimit()
	session, err := opts.client.open(cmd, append(producerOpts, kgo.AllowAutoTopicCreation(), limit.opt())...)
	if err != nil {
		return err
	}
	defer session.close()
	if err := session.reach(cmd.Context()); err != nil {
		return err
	}
	limit.learn(cmd.Context(), session.client, topic)
	if opts.transactionalID != "" {
		if err := session.client.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}

	tally := &produceTally{out: cmd.OutOrStdout(), quiet: opts.quiet, offsetsKnown: opts.producer.acks != "0"}
	scanner := newRecordScanner(cmd.InOrStdin(), delimiter, opts.maxLineBytes)
	ctx := cmd.Context()
	for scanner.Scan() && ctx.Err() == nil {
		r := buildRecord(topic, scanner.Bytes(), opts.keySeparator, headers)
		r.Partition = opts.producer.partition
		session.client.Produce(ctx, r, tally.record)
	}
	if err := session.client.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := scanner.Err(); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	if opts.transactionalID != "" {
		if err := endTransaction(ctx, session.client, tally, opts.abort); err != nil {
			return err
		}
	}
	tally.mu.Lock()
	firstErr := tally.firstErr
	tally.mu.Unlock()
	hint := belowMinISRHint(ctx, session.client, topic, firstErr)
	tally.mu.Lock()
	tally.hint = hint
	tally.mu.Unlock()
	return tally.result(session.stderr)
}

// endTransaction commits the transaction (aborts it with abort, or when a
// record failed) and says so on the tally's failure.
func endTransaction(ctx context.Context, cl *kgo.Client, tally *produceTally, abort bool) error {
	tally.mu.Lock()
	failed := tally.failed > 0
	tally.mu.Unlock()
	commit, ended := kgo.TryCommit, "committed"
	switch {
	case failed:
		commit, ended = kgo.TryAbort, "aborted (a record failed)"
	case abort:
		commit, ended = kgo.TryAbort, "aborted (--abort)"
	}
	if err := cl.EndTransaction(ctx, commit); err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	tally.mu.Lock()
	tally.ended = ended
	tally.mu.Unlock()
	return nil
}

// parseDelimiter resolves the escapes of --delimiter, the same as a consume
// template's, so that -d '\t' splits at tabs and -d '\n' at line ends.
func parseDelimiter(text string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' {
			out.WriteByte(text[i])
			continue
		}
		i++
		if i == len(text) {
			return "", fmt.Errorf("--delimiter %q ends in a lone \\ (write \\\\ for a backslash)", text)
		}
		escaped, ok := templateEscapes[text[i]]
		if !ok {
			return "", fmt.Errorf("--delimiter %q: unknown escape \\%c (want \\n, \\t or \\\\)", text, text[i])
		}
		out.WriteByte(escaped)
	}
	if out.Len() == 0 {
		return "", errors.New("--delimiter must not be empty")
	}
	return out.String(), nil
}

// parseHeaders reads key=value header flags.
func parseHeaders(pairs []string) ([]kgo.RecordHeader, error) {
	headers := make([]kgo.RecordHeader, 0, len(pairs))
	for _, pair := range pairs {
		key, value, found := strings.Cut(pair, "=")
		if !found {
			return nil, fmt.Errorf("--header %q: want key=value", pair)
		}
		headers = append(headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}
	return headers, nil
}

// buildRecord makes a record of one input line, copying it out of the
// scanner's buffer.
func buildRecord(topic string, line []byte, keySeparator string, headers []kgo.RecordHeader) *kgo.Record {
	r := &kgo.Record{Topic: topic, Headers: headers}
	if keySeparator != "" {
		if key, value, found := bytes.Cut(line, []byte(keySeparator)); found {
			r.Key = bytes.Clone(key)
			r.Value = bytes.Clone(value)
			return r
		}
	}
	r.Value = bytes.Clone(line)
	return r
}

// newRecordScanner splits input at delimiter, accepting records of up to
// maxBytes.
func newRecordScanner(input io.Reader, delimiter string, maxBytes int) *bufio.Scanner {
	scanner := bufio.NewScanner(input)
	scanner.Buffer(make([]byte, 0, min(64<<10, maxBytes+len(delimiter))), maxBytes+len(delimiter))
	if delimiter == "\n" {
		scanner.Split(bufio.ScanLines)
		return scanner
	}
	sep := []byte(delimiter)
	scanner.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, sep); i >= 0 {
			return i + len(sep), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	return scanner
}

// produceTally counts acknowledgements and prints them; kgo calls record
// serially, and result runs after Flush, but the lock keeps it obviously safe.
type produceTally struct {
	mu    sync.Mutex
	out   io.Writer
	quiet bool
	// offsetsKnown is false with acks=0: no produce response comes back,
	// and kgo numbers each batch's records from 0, which is no offset at
	// all.
	offsetsKnown bool
	produced     int64
	failed       int64
	firstErr     error
	writeErr     error
	// ended says how a --transactional-id produce ended its transaction
	// ("committed", "aborted (--abort)"), "" without one.
	ended string
	// hint follows the first failure: what the cluster shows of its cause.
	hint string
}

// record is the kgo promise for each record.
func (t *produceTally) record(r *kgo.Record, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed++
		if t.firstErr == nil {
			t.firstErr = err
		}
		return
	}
	t.produced++
	switch {
	case t.quiet || t.writeErr != nil:
	case t.offsetsKnown:
		_, t.writeErr = fmt.Fprintf(t.out, "%s[%d]@%d\n", r.Topic, r.Partition, r.Offset)
	default:
		_, t.writeErr = fmt.Fprintf(t.out, "%s[%d]\n", r.Topic, r.Partition)
	}
}

// result prints the summary to stderr and returns the first failure.
func (t *produceTally) result(stderr io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	summary := fmt.Sprintf("produced %d record%s, %d failed", t.produced, map[bool]string{true: "s"}[t.produced != 1], t.failed)
	if t.ended != "" {
		summary += "; transaction " + t.ended
	}
	fmt.Fprintln(stderr, summary)
	if t.firstErr != nil {
		return fmt.Errorf("produce: %d of %d records failed, the first with: %w%s", t.failed, t.failed+t.produced, t.firstErr, missingTopicHint(t.firstErr)+t.hint)
	}
	if t.writeErr != nil {
		return fmt.Errorf("write acknowledgements: %w", t.writeErr)
	}
	return nil
}

// missingTopicHint says what to do when a produce failed because the
// topic is not there (a broker with auto.create.topics.enable=false does
// not create it), "" for other errors.
func missingTopicHint(err error) string {
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return ""
	}
	return "\nthe topic does not exist and the broker does not create topics on first use (auto.create.topics.enable=false): create it with gregor topic create"
}
