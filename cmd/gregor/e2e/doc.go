// Package e2e runs the gregor binary as a real process and drives it with
// Kafka clients nobody here wrote: franz-go, sarama, kafka-go, kcat,
// kafka-python and confluent-kafka (the last three from Debian, which .ci/run
// installs). It has no code outside its tests.
package e2e
