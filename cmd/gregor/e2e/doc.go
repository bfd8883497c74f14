// Package e2e runs the gregor binary as a real process and drives it with
// Kafka clients nobody here wrote: franz-go, sarama, kafka-go, kcat,
// kafka-python and confluent-kafka (the last three from Debian, which .ci/run
// installs). It has no code outside its tests. GREGOR_E2E_PORTS=LOW-HIGH
// keeps the brokers and clusters the tests start on those loopback ports
// (else they pick free ones in 10000-32767).
package e2e
