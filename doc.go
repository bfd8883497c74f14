// Package gregor is the root of a Kafka-compatible streaming broker built as an
// actor system. The code lives in the folders named by DESIGN.md; this package
// holds only the test that keeps their imports pointing one way
// (cmd → actors → netio, cluster, groups, txn → logstore).
package gregor
