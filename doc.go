// Package gregor is the root of a Kafka-compatible streaming broker built as an
// actor system. The code lives in the folders the README's layout table lists; this package
// holds only two tests of the whole tree: layering_test.go keeps imports
// pointing one way (cmd → actors → netio, cluster, groups, txn → logstore),
// and purity_test.go keeps the cores in cluster, groups and txn free of
// clocks, timers, goroutines, the operating system, the network and
// randomness of their own.
package gregor
