package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestTopicRulesScripts runs testdata/topic_rules: topic name and config
// validation and the resolution of a topic's effective configs, as text.
//
//	validate-names        one name per input line; prints ok or the error
//	validate-configs      key=value per input line; prints ok or the error
//	resolve               input lines "topic k=v", "dynamic k=v", "static k=v";
//	                      prints each asked key's value and source
func TestTopicRulesScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/topic_rules", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			var out strings.Builder
			switch td.Cmd {
			case "validate-names":
				for _, name := range strings.Split(td.Input, "\n") {
					name = strings.Trim(name, `"`)
					fmt.Fprintf(&out, "%q: %s\n", name, errText(ValidateTopicName(name)))
				}
			case "validate-configs":
				for _, line := range strings.Split(td.Input, "\n") {
					k, v, _ := strings.Cut(line, "=")
					fmt.Fprintf(&out, "%s: %s\n", line, errText(ValidateTopicConfig(k, v)))
				}
			case "resolve":
				topic := &TopicImage{Name: "t", Configs: map[string]string{}}
				broker := BrokerConfigs{Dynamic: map[string]string{}, Static: map[string]string{}}
				var keys []string
				for _, line := range strings.Split(td.Input, "\n") {
					where, kv, _ := strings.Cut(line, " ")
					k, v, _ := strings.Cut(kv, "=")
					switch where {
					case "topic":
						topic.Configs[k] = v
					case "dynamic":
						broker.Dynamic[k] = v
					case "static":
						broker.Static[k] = v
					case "show":
						keys = append(keys, k)
					default:
						td.Fatalf(t, "unknown line %q", line)
					}
				}
				for _, k := range keys {
					v, src := TopicConfigValue(topic, broker, k)
					fmt.Fprintf(&out, "%s=%s (%s)\n", k, v, configSourceNames[src])
				}
				s := ResolveTopicSettings(topic, broker, false)
				fmt.Fprintf(&out, "log: retention.ms=%d retention.bytes=%d segment.bytes=%d compact=%t delete=%t\n",
					s.Log.RetentionMs, s.Log.RetentionBytes, s.Log.SegmentBytes, s.Log.CleanupPolicyCompact, s.Log.CleanupPolicyDelete)
				fmt.Fprintf(&out, "replica: max.message.bytes=%d timestamp.type=%d min.insync.replicas=%d\n",
					s.Replica.MaxMessageBytes, s.Replica.TimestampType, s.Replica.MinInsyncReplicas)
			default:
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			return out.String()
		})
	})
}

var configSourceNames = map[ConfigSource]string{
	ConfigSourceUnknown: "unknown", ConfigSourceTopic: "topic", ConfigSourceDynamicBrokerDefault: "dynamic broker default",
	ConfigSourceStaticBroker: "static broker", ConfigSourceDefault: "default",
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
