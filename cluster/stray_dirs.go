package cluster

import (
	"strconv"
	"strings"
)

// StrayPartitionDirs returns, of the names in a node's data directory, the
// partition directories (topic-N) of replicas the image does not give the
// node: a topic the image does not hold, a partition past its count, one
// whose replicas leave the node out, or one whose directory records
// (recorded, by name: its partition.metadata) the id of another topic than
// the image's topic of that name. A node decides this once it caught up
// with the metadata log, before it starts its replicas, as Kafka's broker
// marks stray logs at its first caught-up image: the metadata log can no
// longer tell it to delete them (a topic created and deleted, or deleted
// and created again under its name, while the node was down, or in one
// batch it read at once, or a deletion cut by a crash before the directory
// was renamed aside). Left under its name, such a directory would be
// adopted by a new topic of that name with the old records in it. A
// directory that records no id (an older build's, or one whose file could
// not be read) is judged by its name alone. Names that are not topic-N (the
// metadata log, retired -delete and -stray directories, files) are never
// stray.
func StrayPartitionDirs(img *MetadataImage, node int32, names []string, recorded map[string]TopicID) []string {
	var out []string
	for _, name := range names {
		if _, _, ok := ParsePartitionDir(name); !ok {
			continue
		}
		id, hosted := HostedPartitionDir(img, node, name)
		if rec, has := recorded[name]; hosted && (!has || rec == id) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// HostedPartitionDir says whether name is the directory (topic-N) of a
// replica the image gives the node, by name, and that topic's id: the id a
// directory of that name must record to be kept.
func HostedPartitionDir(img *MetadataImage, node int32, name string) (TopicID, bool) {
	topic, partition, ok := ParsePartitionDir(name)
	if !ok {
		return TopicID{}, false
	}
	t, ok := img.Topic(topic)
	if !ok || int(partition) >= len(t.Partitions) || !t.Partitions[partition].HostedBy(node) {
		return TopicID{}, false
	}
	return t.ID, true
}

// ParsePartitionDir reads a partition directory's name, topic-N, where the
// topic is a legal Kafka topic name (ASCII letters, digits, '.', '_', '-';
// at most 249 characters) and N a partition number written as Kafka writes
// it (no sign, no leading zero).
func ParsePartitionDir(name string) (topic string, partition int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 || i > 249 {
		return "", 0, false
	}
	topic, num := name[:i], name[i+1:]
	if len(num) > 1 && num[0] == '0' {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || n < 0 || num[0] == '+' {
		return "", 0, false
	}
	if topic == "." || topic == ".." {
		return "", 0, false
	}
	for _, c := range []byte(topic) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", 0, false
		}
	}
	return topic, int32(n), true
}
