package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDescribePrintsEligibleReplicas: describe prints a partition's eligible
// leader replicas and last known ones where DescribeTopicPartitions told
// them, and "-" where it did not.
func TestDescribePrintsEligibleReplicas(t *testing.T) {
	d := kadm.TopicDetail{Topic: "t", Partitions: kadm.PartitionDetails{
		0: {Topic: "t", Partition: 0, Leader: 2, LeaderEpoch: 4, Replicas: []int32{1, 2, 3}, ISR: []int32{2}},
		1: {Topic: "t", Partition: 1, Leader: 1, LeaderEpoch: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}},
	}}
	desc := topicDescription{eligible: map[string]map[int32]eligibleReplicas{"t": {0: {elr: []int32{3}, lastKnown: []int32{1}}}}}
	var out bytes.Buffer
	if err := desc.write(&out, d); err != nil {
		t.Fatal(err)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^0 +2 +4 +\[1 2 3\] +\[2\] +\[\] +\[3\] +\[1\] `),
		regexp.MustCompile(`(?m)^1 +1 +0 +\[1 2 3\] +\[1 2 3\] +\[\] +- +- `),
	} {
		if !re.MatchString(out.String()) {
			t.Errorf("describe output has no match for %s:\n%s", re, out.String())
		}
	}
}
