package actors

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
)

// configEntry is one config as DescribeConfigs and CreateTopics show it.
type configEntry struct {
	name      string
	value     string
	source    kmsg.ConfigSource
	typ       cluster.ConfigType
	readOnly  bool
	sensitive bool
	doc       string
}

// topicConfigView lists a topic's effective configs, sorted by name.
func (n *Node) topicConfigView(t *cluster.TopicImage) []configEntry {
	var out []configEntry
	for _, spec := range cluster.TopicConfigSpecs() {
		v, src := n.topicConfigValue(t, spec.Name)
		out = append(out, configEntry{name: spec.Name, value: v, source: src, typ: spec.Type, doc: spec.Doc})
	}
	return out
}

// brokerConfigView lists the broker's configs: server.properties with the
// dynamic cluster-wide values over them. Only the broker-wide topic defaults
// can change at run time; the rest are read-only.
func (n *Node) brokerConfigView() []configEntry {
	dynamicKeys := map[string]cluster.TopicConfigSpec{}
	for _, spec := range cluster.TopicConfigSpecs() {
		if spec.BrokerKey != "" {
			dynamicKeys[spec.BrokerKey] = spec
		}
	}
	values := map[string]configEntry{}
	for k, v := range n.cfg.StaticBrokerConfigs {
		_, dynamic := dynamicKeys[k]
		values[k] = configEntry{name: k, value: v, source: kmsg.ConfigSourceStaticBrokerConfig, typ: cluster.ConfigString, readOnly: !dynamic}
	}
	for k, spec := range dynamicKeys {
		if _, ok := values[k]; !ok {
			values[k] = configEntry{name: k, value: spec.Default, source: kmsg.ConfigSourceDefaultConfig, typ: spec.Type}
		} else {
			e := values[k]
			e.typ = spec.Type
			values[k] = e
		}
	}
	for k, v := range n.routes.load().image.BrokerConfigs() {
		e := values[k]
		e.name, e.value, e.source = k, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
		values[k] = e
	}
	out := make([]configEntry, 0, len(values))
	for _, k := range sortedKeys(values) {
		e := values[k]
		e.sensitive = strings.Contains(k, "password")
		if e.sensitive {
			e.value = ""
		}
		out = append(out, e)
	}
	return out
}

func createTopicsConfigs(entries []configEntry) []kmsg.CreateTopicsResponseTopicConfig {
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.name, kmsg.StringPtr(e.value), e.readOnly, int8(e.source), e.sensitive
		out = append(out, c)
	}
	return out
}

// checkTopicConfigs validates the configs of a topic to create or alter.
func checkTopicConfigs(configs map[string]string) *topicError {
	for _, name := range sortedKeys(configs) {
		if err := cluster.ValidateTopicConfig(name, configs[name]); err != nil {
			return newTopicError(kerr.InvalidConfig, "%v", err)
		}
	}
	return nil
}

func (r *router) describeConfigs(req *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	rt := r.node.routes.load()
	for _, res := range req.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		var entries []configEntry
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := rt.image.Topic(res.ResourceName)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
				out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("topic %q does not exist", res.ResourceName))
				break
			}
			entries = r.node.topicConfigView(t)
		case kmsg.ConfigResourceTypeBroker:
			if res.ResourceName != "" && res.ResourceName != strconv.Itoa(int(r.node.cfg.NodeID)) {
				out.ErrorCode = kerr.InvalidRequest.Code
				out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("broker %q is not this node (%d)", res.ResourceName, r.node.cfg.NodeID))
				break
			}
			entries = r.node.brokerConfigView()
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			out.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("config resource type %d is not served", res.ResourceType))
		}
		out.Configs = describeEntries(entries, res.ConfigNames, req.IncludeDocumentation)
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

func describeEntries(entries []configEntry, names []string, withDoc bool) []kmsg.DescribeConfigsResponseResourceConfig {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, e := range entries {
		if names != nil && !want[e.name] {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.name, kmsg.StringPtr(e.value), e.readOnly, e.source, e.sensitive
		if e.sensitive {
			c.Value = nil
		}
		c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
		c.ConfigType = kmsg.ConfigType(e.typ)
		if withDoc && e.doc != "" {
			c.Documentation = kmsg.StringPtr(e.doc)
		}
		out = append(out, c)
	}
	return out
}

// alterConfigs replaces every config of each resource (AlterConfigs is not
// incremental: absent keys go back to their defaults).
func (c *controllerActor) alterConfigs(ctx actor.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, res := range req.Resources {
		set := map[string]string{}
		var terr *topicError
		for _, cfg := range res.Configs {
			if cfg.Value == nil {
				terr = newTopicError(kerr.InvalidConfig, "config %s has a null value", cfg.Name)
				break
			}
			set[cfg.Name] = *cfg.Value
		}
		if terr == nil {
			terr = c.replaceConfigs(ctx, res.ResourceType, res.ResourceName, set, req.ValidateOnly)
		}
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		if terr != nil {
			out.ErrorCode, out.ErrorMessage = terr.code, &terr.msg
		}
		resp.Resources = append(resp.Resources, out)
	}
	c.publish()
	return resp
}

// incrementalAlterConfigs applies SET, DELETE, APPEND and SUBTRACT to the
// current configs of each resource.
func (c *controllerActor) incrementalAlterConfigs(ctx actor.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, res := range req.Resources {
		current, terr := c.currentConfigs(res.ResourceType, res.ResourceName)
		if terr == nil {
			terr = applyIncremental(current, res.Configs, res.ResourceType)
		}
		if terr == nil {
			terr = c.replaceConfigs(ctx, res.ResourceType, res.ResourceName, current, req.ValidateOnly)
		}
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		if terr != nil {
			out.ErrorCode, out.ErrorMessage = terr.code, &terr.msg
		}
		resp.Resources = append(resp.Resources, out)
	}
	c.publish()
	return resp
}

func applyIncremental(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, typ kmsg.ConfigResourceType) *topicError {
	for _, op := range ops {
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return newTopicError(kerr.InvalidConfig, "SET of %s has a null value", op.Name)
			}
			current[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(current, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			spec, ok := cluster.LookupTopicConfig(op.Name)
			if typ != kmsg.ConfigResourceTypeTopic || !ok || spec.Type != cluster.ConfigList || op.Value == nil {
				return newTopicError(kerr.InvalidConfig, "APPEND and SUBTRACT apply to list configs only, not %s", op.Name)
			}
			base, ok := current[op.Name]
			if !ok {
				base = spec.Default
			}
			current[op.Name] = editList(base, *op.Value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return newTopicError(kerr.InvalidRequest, "unknown config operation %d for %s", op.Op, op.Name)
		}
	}
	return nil
}

// editList appends or removes the comma-separated items of change.
func editList(list, change string, appendItems bool) string {
	var items []string
	has := map[string]bool{}
	for _, it := range strings.Split(list, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items, has[it] = append(items, it), true
		}
	}
	for _, it := range strings.Split(change, ",") {
		it = strings.TrimSpace(it)
		switch {
		case it == "":
		case appendItems && !has[it]:
			items, has[it] = append(items, it), true
		case !appendItems && has[it]:
			kept := items[:0]
			for _, x := range items {
				if x != it {
					kept = append(kept, x)
				}
			}
			items, has[it] = kept, false
		}
	}
	return strings.Join(items, ",")
}

// currentConfigs copies a resource's own configs.
func (c *controllerActor) currentConfigs(typ kmsg.ConfigResourceType, name string) (map[string]string, *topicError) {
	var src map[string]string
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := c.image.Topic(name)
		if !ok {
			return nil, newTopicError(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		src = t.Configs
	case kmsg.ConfigResourceTypeBroker:
		src = c.image.BrokerConfigs()
	default:
		return nil, newTopicError(kerr.InvalidRequest, "config resource type %d is not served", typ)
	}
	out := make(map[string]string, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out, nil
}

// replaceConfigs validates and stores a resource's new configs and tells the
// topic's partitions.
func (c *controllerActor) replaceConfigs(ctx actor.Context, typ kmsg.ConfigResourceType, name string, configs map[string]string, validateOnly bool) *topicError {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if _, ok := c.image.Topic(name); !ok {
			return newTopicError(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		if terr := checkTopicConfigs(configs); terr != nil {
			return terr
		}
		if validateOnly {
			return nil
		}
		if err := c.apply(cluster.TopicConfigsSet{Topic: name, Configs: configs}); err != nil {
			return newTopicError(kerr.KafkaStorageError, "persist configs of %q: %v", name, err)
		}
		c.publish()
		settings := c.node.topicSettings(c.image, name)
		for _, pid := range c.partitions[name] {
			if pid != nil {
				ctx.Send(pid, &topicConfigsChanged{settings: settings})
			}
		}
		c.logger.Info("topic configs changed", zap.String("topic", name))
	case kmsg.ConfigResourceTypeBroker:
		if name != "" && name != strconv.Itoa(int(c.node.cfg.NodeID)) {
			return newTopicError(kerr.InvalidRequest, "broker %q is not this node (%d)", name, c.node.cfg.NodeID)
		}
		if terr := checkBrokerConfigs(configs); terr != nil {
			return terr
		}
		if validateOnly {
			return nil
		}
		if err := c.apply(cluster.BrokerConfigsSet{Configs: configs}); err != nil {
			return newTopicError(kerr.KafkaStorageError, "persist broker configs: %v", err)
		}
		c.publish()
		for topic, pids := range c.partitions {
			settings := c.node.topicSettings(c.image, topic)
			for _, pid := range pids {
				if pid != nil {
					ctx.Send(pid, &topicConfigsChanged{settings: settings})
				}
			}
		}
		c.logger.Info("broker configs changed")
	default:
		return newTopicError(kerr.InvalidRequest, "config resource type %d is not served", typ)
	}
	return nil
}

// checkBrokerConfigs allows at run time only the broker-wide topic defaults
// (log.retention.ms and the like), validated as their topic configs.
func checkBrokerConfigs(configs map[string]string) *topicError {
	byBrokerKey := map[string]string{}
	for _, spec := range cluster.TopicConfigSpecs() {
		if spec.BrokerKey != "" {
			byBrokerKey[spec.BrokerKey] = spec.Name
		}
	}
	for _, k := range sortedKeys(configs) {
		topicKey, ok := byBrokerKey[k]
		if !ok {
			return newTopicError(kerr.InvalidRequest, "cannot update broker config %s dynamically; set it in server.properties and restart", k)
		}
		if err := cluster.ValidateTopicConfig(topicKey, configs[k]); err != nil {
			return newTopicError(kerr.InvalidConfig, "%s: %v", k, err)
		}
	}
	return nil
}
