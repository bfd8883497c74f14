package actors

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zapcore"

	"gregor/cluster"
)

// describeConfigs answers DescribeConfigs from the published image: a
// topic's effective configs, or the broker's, or a consumer group's, or the
// broker's loggers, or a client metrics subscription's (none).
func (r *router) describeConfigs(req *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	rt := r.node.routes.load()
	for _, res := range req.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		var entries []cluster.ConfigEntry
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := rt.image.Topic(res.ResourceName)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
				out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("topic %q does not exist", res.ResourceName))
				break
			}
			entries = cluster.TopicConfigEntries(t, r.node.brokerConfigs(rt.image))
		case kmsg.ConfigResourceTypeBroker:
			if res.ResourceName != "" && res.ResourceName != strconv.Itoa(int(r.node.cfg.NodeID)) {
				out.ErrorCode = kerr.InvalidRequest.Code
				out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("broker %q is not this node (%d)", res.ResourceName, r.node.cfg.NodeID))
				break
			}
			if res.ResourceName == "" {
				entries = cluster.BrokerDefaultConfigEntries(r.node.brokerConfigs(rt.image))
				break
			}
			entries = cluster.BrokerConfigEntries(r.node.brokerConfigs(rt.image))
		case kmsg.ConfigResourceTypeBrokerLogger:
			if res.ResourceName != strconv.Itoa(int(r.node.cfg.NodeID)) {
				out.ErrorCode = kerr.InvalidRequest.Code
				out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("unexpected broker id, expected %d but received %q", r.node.cfg.NodeID, res.ResourceName))
				break
			}
			entries = r.loggerEntries()
		case kmsg.ConfigResourceTypeClientMetrics:
			// No client metrics subscription exists (gregor does not
			// collect KIP-714 client metrics): none has configs.
			if res.ResourceName == "" {
				out.ErrorCode = kerr.InvalidRequest.Code
				out.ErrorMessage = kmsg.StringPtr("client metrics subscription name must not be empty")
			}
		case kmsg.ConfigResourceTypeGroupConfig:
			if res.ResourceName == "" {
				out.ErrorCode = kerr.InvalidRequest.Code
				out.ErrorMessage = kmsg.StringPtr("group name must not be empty")
				break
			}
			entries = r.node.cfg.Groups.groupConfigEntries()
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("config resource type %d is not served", res.ResourceType))
		}
		out.Configs = describeEntries(entries, res.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

// describeEntries is the DescribeConfigs answer of entries: those named
// (all when names is nil), with their synonyms and documentation when
// asked for.
func describeEntries(entries []cluster.ConfigEntry, names []string, withSynonyms, withDoc bool) []kmsg.DescribeConfigsResponseResourceConfig {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, e := range entries {
		if names != nil && !want[e.Name] {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, kmsg.StringPtr(e.Value), e.ReadOnly, e.Source, e.Sensitive
		if e.Sensitive {
			c.Value = nil
		}
		c.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
		c.ConfigType = kmsg.ConfigType(e.Type)
		if withSynonyms {
			for _, syn := range e.Synonyms {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name, cs.Value, cs.Source = syn.Name, kmsg.StringPtr(syn.Value), syn.Source
				if e.Sensitive {
					cs.Value = nil
				}
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
		}
		if withDoc && e.Doc != "" {
			c.Documentation = kmsg.StringPtr(e.Doc)
		}
		out = append(out, c)
	}
	return out
}

// loggerEntries are the node's loggers as DescribeConfigs of a
// BROKER_LOGGER resource lists them (Kafka's log4j loggers, for
// kafka-configs --describe --entity-type broker-loggers): gregor's loggers
// all write at log.level, so it lists the root logger alone, with that
// level in log4j's name. The level is set in server.properties only
// (IncrementalAlterConfigs of broker loggers is not served).
func (r *router) loggerEntries() []cluster.ConfigEntry {
	level := "FATAL"
	switch l := r.node.logger.Level(); {
	case l <= zapcore.DebugLevel:
		level = "DEBUG"
	case l == zapcore.InfoLevel:
		level = "INFO"
	case l == zapcore.WarnLevel:
		level = "WARN"
	case l == zapcore.ErrorLevel:
		level = "ERROR"
	}
	return []cluster.ConfigEntry{{Name: "root", Value: level, Source: kmsg.ConfigSourceStaticBrokerConfig,
		Type: cluster.ConfigString, ReadOnly: true, Doc: "The level of every logger of the node (log.level)."}}
}
