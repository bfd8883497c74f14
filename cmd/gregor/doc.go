// Command gregor is the broker and its client tools in one binary.
//
// gregor serve runs a node configured by a Kafka-style server.properties
// file and --set overrides (config.go, config_keys.go, properties.go),
// holding its log directory's .lock while it runs (logdir_lock.go). The
// client verbs, topic, produce, consume, group, txn, features and perf, work like rpk on top of
// franz-go's kgo and kadm clients and talk to any Kafka-compatible cluster
// named by -b/--brokers or GREGOR_BROKERS (default 127.0.0.1:9092).
//
// This package owns flags, configuration and the client verbs; it hands the
// node's configuration to actors, hands gregor sim to the simulator (sim),
// and takes from cluster only default values (config_replica_fetch.go) and
// EditDistance for its config key suggestions (config_suggest.go). Commands
// are built fresh by newRootCommand and read and write only through the
// cobra command's input and outputs, so tests run them in-process. The
// client verbs run on the calling goroutine plus the kgo client's own; they
// share stderr (logs and progress) through one locked writer. Errors say
// what to do (root.go): a wrong argument or flag names the command, its
// usage and its --help, a mistyped subcommand fails instead of printing
// help, and a refused connection names the seed brokers' flag.
package main
