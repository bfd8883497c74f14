package cluster

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestStrayDirsScripts runs testdata/stray_dirs: which directories of a
// node's data directory StrayPartitionDirs finds stray in an image.
//
//	topic NAME id=N replicas=A,B,C;D,E,F;...   a topic whose partition i
//	                                          has the i-th replica list
//	delete NAME                               the topic is deleted
//	stray node=N                              the input's names (one a
//	                                          line) found stray for node N;
//	                                          "NAME id=N" says the directory
//	                                          records topic id N
func TestStrayDirsScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/stray_dirs", func(t *testing.T, path string) {
		img := NewMetadataImage()
		ids := map[string]TopicID{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			var recs []MetadataRecord
			switch td.Cmd {
			case "topic":
				name := td.CmdArgs[0].Key
				var idn int
				td.ScanArgs(t, "id", &idn)
				id := TopicID{byte(idn)}
				ids[name] = id
				recs = append(recs, TopicRecord{Name: name, TopicID: id})
				var spec string
				td.ScanArgs(t, "replicas", &spec)
				for i, list := range strings.Split(spec, ";") {
					var replicas []int32
					for _, f := range strings.Split(list, ",") {
						n, err := strconv.Atoi(f)
						if err != nil {
							td.Fatalf(t, "replicas %q: %v", spec, err)
						}
						replicas = append(replicas, int32(n))
					}
					recs = append(recs, PartitionRecord{TopicID: id, Partition: int32(i), Replicas: replicas, ISR: replicas, Leader: replicas[0]})
				}
			case "delete":
				recs = append(recs, RemoveTopicRecord{TopicID: ids[td.CmdArgs[0].Key]})
			case "stray":
				var node int
				td.ScanArgs(t, "node", &node)
				var names []string
				recorded := map[string]TopicID{}
				for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
					name, rec, has := strings.Cut(strings.TrimSpace(line), " id=")
					if name == "" {
						continue
					}
					names = append(names, name)
					if has {
						n, err := strconv.Atoi(rec)
						if err != nil {
							td.Fatalf(t, "line %q: %v", line, err)
						}
						recorded[name] = TopicID{byte(n)}
					}
				}
				out := StrayPartitionDirs(img, int32(node), names, recorded)
				if len(out) == 0 {
					return "none\n"
				}
				return strings.Join(out, "\n") + "\n"
			default:
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			next, err := img.Apply(recs...)
			if err != nil {
				td.Fatalf(t, "apply: %v", err)
			}
			img = next
			return ""
		})
	})
}
