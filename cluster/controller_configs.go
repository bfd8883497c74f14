package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterConfigs decides an AlterConfigs request, which replaces every config
// of each resource: absent keys go back to their defaults. Each resource is
// checked against the image as the resources before it leave it.
func (c *Controller) alterConfigs(req *kmsg.AlterConfigsRequest) decision {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	var a configAlteration
	a.w = c.working
	listed := map[configResource]int{}
	for _, res := range req.Resources {
		listed[configResource{res.ResourceType, res.ResourceName}]++
	}
	for _, res := range req.Resources {
		set := map[string]string{}
		names := make([]string, 0, len(res.Configs))
		for _, cfg := range res.Configs {
			names = append(names, cfg.Name)
		}
		aerr := checkListedOnce(listed[configResource{res.ResourceType, res.ResourceName}], names)
		for _, cfg := range res.Configs {
			if aerr != nil {
				break
			}
			if cfg.Value == nil {
				aerr = newAPIError(kerr.InvalidConfig, "config %s has a null value", cfg.Name)
				break
			}
			set[cfg.Name] = *cfg.Value
		}
		if aerr == nil {
			aerr = a.replace(c, len(resp.Resources), res.ResourceType, res.ResourceName, set, req.ValidateOnly)
		}
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		if aerr != nil {
			out.ErrorCode, out.ErrorMessage = aerr.code, &aerr.msg
		}
		resp.Resources = append(resp.Resources, out)
	}
	return decision{records: a.recs, image: a.w, response: resp, fail: func(code int16, err error) kmsg.Response {
		out := *resp
		out.Resources = slices.Clone(resp.Resources)
		for _, ch := range a.changed {
			r := &out.Resources[ch.index]
			r.ErrorCode, r.ErrorMessage = code, kmsg.StringPtr(persistConfigsError(ch.typ, ch.name, err))
		}
		return &out
	}}
}

// incrementalAlterConfigs decides an IncrementalAlterConfigs request: SET,
// DELETE, APPEND and SUBTRACT on the current configs of each resource.
func (c *Controller) incrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) decision {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	var a configAlteration
	a.w = c.working
	listed := map[configResource]int{}
	for _, res := range req.Resources {
		listed[configResource{res.ResourceType, res.ResourceName}]++
	}
	for _, res := range req.Resources {
		names := make([]string, 0, len(res.Configs))
		for _, cfg := range res.Configs {
			names = append(names, cfg.Name)
		}
		var current map[string]string
		aerr := checkListedOnce(listed[configResource{res.ResourceType, res.ResourceName}], names)
		if aerr == nil {
			current, aerr = currentConfigs(a.w, res.ResourceType, res.ResourceName)
		}
		if aerr == nil {
			aerr = applyIncremental(current, res.Configs, res.ResourceType)
		}
		if aerr == nil {
			aerr = a.replace(c, len(resp.Resources), res.ResourceType, res.ResourceName, current, req.ValidateOnly)
		}
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		if aerr != nil {
			out.ErrorCode, out.ErrorMessage = aerr.code, &aerr.msg
		}
		resp.Resources = append(resp.Resources, out)
	}
	return decision{records: a.recs, image: a.w, response: resp, fail: func(code int16, err error) kmsg.Response {
		out := *resp
		out.Resources = slices.Clone(resp.Resources)
		for _, ch := range a.changed {
			r := &out.Resources[ch.index]
			r.ErrorCode, r.ErrorMessage = code, kmsg.StringPtr(persistConfigsError(ch.typ, ch.name, err))
		}
		return &out
	}}
}

// configResource is a resource an AlterConfigs or IncrementalAlterConfigs
// request names.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// checkListedOnce refuses, as Kafka's brokers do before they forward the
// request, a resource the request lists more than once (each of its
// entries is answered INVALID_REQUEST and none is applied: which should
// win is not said) and a resource that names a config more than once.
// listed is how many entries name the resource, names its entry's config
// names.
func checkListedOnce(listed int, names []string) *apiError {
	if listed > 1 {
		return newAPIError(kerr.InvalidRequest, "each resource must appear at most once: this one is listed %d times", listed)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return newAPIError(kerr.InvalidRequest, "config %s is listed more than once", n)
		}
		seen[n] = true
	}
	return nil
}

// configAlteration gathers the records of one request's resources.
type configAlteration struct {
	w       *MetadataImage
	recs    []MetadataRecord
	changed []changedResource
}

// changedResource is a resource whose answer needs the records.
type changedResource struct {
	index int
	typ   kmsg.ConfigResourceType
	name  string
}

func persistConfigsError(typ kmsg.ConfigResourceType, name string, err error) string {
	if typ == kmsg.ConfigResourceTypeBroker {
		return fmt.Sprintf("persist broker configs: %v", err)
	}
	return fmt.Sprintf("persist configs of %q: %v", name, err)
}

// replace validates a resource's new configs and records what differs from
// its current ones.
// index is the resource's place in the answer.
func (a *configAlteration) replace(c *Controller, index int, typ kmsg.ConfigResourceType, name string, configs map[string]string, validateOnly bool) *apiError {
	var current map[string]string
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := a.w.Topic(name)
		if !ok {
			return newAPIError(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		if aerr := checkTopicConfigs(configs); aerr != nil {
			return aerr
		}
		current = t.Configs
	case kmsg.ConfigResourceTypeBroker:
		if aerr := c.checkBrokerResource(a.w, name); aerr != nil {
			return aerr
		}
		if aerr := c.checkBrokerConfigs(name, configs); aerr != nil {
			return aerr
		}
		current = brokerResourceConfigs(a.w, name)
	default:
		return newAPIError(kerr.InvalidRequest, "config resource type %d is not served", typ)
	}
	if validateOnly {
		return nil
	}
	recs := configChanges(typ, name, current, configs)
	if len(recs) == 0 {
		return nil
	}
	before := a.w
	a.w = mustApply(a.w, recs)
	if elrRecs := c.minISRChangeUpdates(before, a.w, typ, name, recs); len(elrRecs) > 0 {
		a.w = mustApply(a.w, elrRecs)
		recs = append(recs, elrRecs...)
	}
	a.recs = append(a.recs, recs...)
	a.changed = append(a.changed, changedResource{index: index, typ: typ, name: name})
	return nil
}

// checkBrokerResource accepts a broker resource named "" (every broker) or
// by the id of this node or of a registered broker: clients send a broker's
// AlterConfigs to that broker, which forwards it here.
func (c *Controller) checkBrokerResource(w *MetadataImage, name string) *apiError {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return newAPIError(kerr.InvalidRequest, "broker name %q is not a base 10 number", name)
	}
	if _, ok := w.Broker(int32(id)); !ok && int32(id) != c.cfg.NodeID {
		return newAPIError(kerr.InvalidRequest, "broker %d is not registered", id)
	}
	return nil
}

// brokerResourceConfigs are the dynamic configs of a broker resource: the
// cluster-wide defaults (name "") or one broker's own (name its id, checked
// by checkBrokerResource).
func brokerResourceConfigs(w *MetadataImage, name string) map[string]string {
	if name == "" {
		return w.BrokerConfigs()
	}
	id, _ := strconv.ParseInt(name, 10, 32)
	return w.NodeConfigs(int32(id))
}

// configChanges are the records that turn a resource's configs from old
// into new: deletes of the keys new lacks, then sets of the values that
// differ, each in key order.
func configChanges(typ kmsg.ConfigResourceType, name string, old, new map[string]string) []MetadataRecord {
	var out []MetadataRecord
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := new[k]; !ok {
			out = append(out, ConfigRecord{ResourceType: typ, ResourceName: name, Name: k})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(new)) {
		if v, ok := old[k]; !ok || v != new[k] {
			v := new[k]
			out = append(out, ConfigRecord{ResourceType: typ, ResourceName: name, Name: k, Value: &v})
		}
	}
	return out
}

// currentConfigs copies a resource's own configs.
func currentConfigs(w *MetadataImage, typ kmsg.ConfigResourceType, name string) (map[string]string, *apiError) {
	var src map[string]string
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := w.Topic(name)
		if !ok {
			return nil, newAPIError(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		src = t.Configs
	case kmsg.ConfigResourceTypeBroker:
		src = brokerResourceConfigs(w, name)
	case kmsg.ConfigResourceTypeGroupConfig:
		return nil, newAPIError(kerr.InvalidRequest, "a group's configs cannot be set yet: every group has the broker's group.consumer.* settings")
	case kmsg.ConfigResourceTypeClientMetrics:
		return nil, newAPIError(kerr.InvalidRequest, "client metrics subscriptions cannot be set: gregor does not collect client metrics (KIP-714)")
	default:
		return nil, newAPIError(kerr.InvalidRequest, "config resource type %d is not served", typ)
	}
	out := make(map[string]string, len(src))
	maps.Copy(out, src)
	return out, nil
}

// applyIncremental applies the operations to current, in order.
func applyIncremental(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, typ kmsg.ConfigResourceType) *apiError {
	for _, op := range ops {
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return newAPIError(kerr.InvalidConfig, "SET of %s has a null value", op.Name)
			}
			current[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(current, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			spec, ok := LookupTopicConfig(op.Name)
			if why := unservedConfig(op.Name); !ok && why != "" {
				return newAPIError(kerr.InvalidConfig, "%s", why)
			}
			if typ != kmsg.ConfigResourceTypeTopic || !ok || spec.Type != ConfigList || op.Value == nil {
				return newAPIError(kerr.InvalidConfig, "APPEND and SUBTRACT apply to list configs only, not %s", op.Name)
			}
			base, ok := current[op.Name]
			if !ok {
				base = spec.Default
			}
			current[op.Name] = editList(base, *op.Value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return newAPIError(kerr.InvalidRequest, "unknown config operation %d for %s", op.Op, op.Name)
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
			items, has[it] = slices.DeleteFunc(items, func(x string) bool { return x == it }), false
		}
	}
	return strings.Join(items, ",")
}

// checkBrokerConfigs allows at run time only the broker-wide topic defaults
// (log.retention.ms and the like), validated as their topic configs. A key
// the brokers know (server.properties) is refused as static; any other as
// unknown, with a hint when it looks like a key the broker takes.
//
// One broker's own value (resource name its id) of min.insync.replicas or
// unclean.leader.election.enable is refused: the controller's elections
// and eligible leader replicas read the cluster-wide value, and a leader
// that advanced its high watermark under a lower minimum than the
// controller's would let the controller elect a replica without records
// it committed. Kafka 4 refuses a broker's own min.insync.replicas with
// eligible leader replicas on for the same reason.
func (c *Controller) checkBrokerConfigs(name string, configs map[string]string) *apiError {
	byBrokerKey := map[string]string{}
	for _, spec := range topicConfigSpecs {
		if spec.BrokerKey != "" {
			byBrokerKey[spec.BrokerKey] = spec.Name
		}
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		topicKey, ok := byBrokerKey[k]
		if target := aliasTarget(k); !ok && target != "" {
			return newAPIError(kerr.InvalidConfig, "%s cannot be set at run time: set %s (in milliseconds), which %s stands for", k, target, k)
		}
		if why := unservedConfig(k); !ok && why != "" {
			return newAPIError(kerr.InvalidConfig, "%s", why)
		}
		if !ok && c.knowsBrokerConfig(k) {
			return newAPIError(kerr.InvalidRequest, "cannot update broker config %s dynamically; set it in server.properties and restart", k)
		}
		if !ok {
			return newAPIError(kerr.InvalidConfig, "%s", unknownBrokerConfig(k, slices.Sorted(maps.Keys(byBrokerKey))))
		}
		if name != "" && (k == "min.insync.replicas" || k == "unclean.leader.election.enable") {
			return newAPIError(kerr.InvalidConfig, "%s cannot be set for broker %s alone: the controller's elections read the cluster-wide value; set it for the default broker resource (\"\") or per topic", k, name)
		}
		spec, _ := LookupTopicConfig(topicKey)
		if err := spec.validate(configs[k]); err != nil {
			return newAPIError(kerr.InvalidConfig, "invalid value for %s: %v", k, err)
		}
	}
	return nil
}

// aliasTarget is the broker key an alias (log.retention.hours) stands for,
// or "".
func aliasTarget(alias string) string {
	for target, aliases := range brokerKeyAliases {
		if slices.ContainsFunc(aliases, func(a keyAlias) bool { return a.name == alias }) {
			return target
		}
	}
	return ""
}

// knowsBrokerConfig reports whether key is one the brokers read from
// server.properties (given or defaulted).
func (c *Controller) knowsBrokerConfig(key string) bool {
	_, static := c.cfg.StaticBrokerConfigs[key]
	return static || slices.Contains(c.cfg.BrokerConfigKeys, key)
}

// unknownBrokerConfig says why key is no broker config, pointing at what was
// likely meant: the broker-wide default of a topic config given by its
// topic name, a run-time key (of dynamic, sorted) one or two typos away, or
// those that share its prefix (log.retention.hour: log.retention.bytes,
// log.retention.ms). Kept short: some clients cut a long message.
func unknownBrokerConfig(key string, dynamic []string) string {
	msg := fmt.Sprintf("unknown broker config %q", key)
	if spec, ok := LookupTopicConfig(key); ok && spec.BrokerKey != "" {
		return fmt.Sprintf("%s: %s is a topic config; the default of every topic is the broker config %s", msg, key, spec.BrokerKey)
	}
	lower := strings.ToLower(key)
	best, bestDistance := "", 3
	for _, d := range dynamic {
		if dist := EditDistance(lower, d); dist < bestDistance {
			best, bestDistance = d, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("%s (did you mean %s?)", msg, best)
	}
	if i := strings.LastIndexByte(lower, '.'); i > 0 && strings.Contains(lower[:i], ".") {
		var near []string
		for _, d := range dynamic {
			if strings.HasPrefix(d, lower[:i+1]) {
				near = append(near, d)
			}
		}
		if len(near) > 0 && len(near) <= 3 {
			return fmt.Sprintf("%s (did you mean %s?)", msg, strings.Join(near, " or "))
		}
	}
	return msg + "; at run time a broker takes only the broker-wide defaults of topic configs, such as log.retention.ms, log.segment.bytes and min.insync.replicas"
}

// EditDistance is the Levenshtein distance between a and b (bytes): how
// config names are matched to the one a typo meant.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// minISRChangeUpdates are the partition changes a new min.insync.replicas
// (recs, of a topic or the broker default, turning image before into w)
// needs: each partition of the topics it governs that keeps eligible
// leader replicas is built again against it, so an ISR that now reaches it
// clears them (Kafka's getPartitionElrUpdatesForConfigChanges): its high
// watermark moves again, and they would fall behind. An ISR still below it
// (an empty one) keeps them: each member holds every committed record, and
// the one elected from there clears the others when its ISR reaches the
// new value (partitionChange.build). Kafka 4.1 instead clears every ELR of
// the topic on any change (ClearElrRecord), leaving such a partition
// without an eligible replica until an unclean election.
//
// A value raised for a partition bumps its partition epoch even when
// nothing else changes: a replica the ISR loses from then on enters the
// ELR against the new value, and the ELR is safe only if the leader's high
// watermark stopped (KIP-966) once its ISR fell below that value. A leader
// that has not applied the config record yet still advances it with the
// old value; had the controller taken its ISR shrink (made against the
// old partition epoch) and put the replica it dropped into the ELR, the
// leader, told the new ISR by the AlterPartition answer, would commit
// records that ELR member lacks, and an election from the ELR (the ISR
// fenced) would lose them. With the bump, such a shrink is refused
// (INVALID_UPDATE_VERSION): the leader asks again with the partition epoch
// of an image that holds the config record before it (the log's order),
// so it knows the new value. Lowering needs nothing: a leader's older,
// higher value stops its high watermark sooner.
func (c *Controller) minISRChangeUpdates(before, w *MetadataImage, typ kmsg.ConfigResourceType, name string, recs []MetadataRecord) []MetadataRecord {
	if !elrEnabled(w) || !slices.ContainsFunc(recs, func(r MetadataRecord) bool {
		cr, ok := r.(ConfigRecord)
		return ok && cr.Name == "min.insync.replicas"
	}) {
		return nil
	}
	acceptable := func(b int32) bool { return c.activeBroker(w, b) }
	var out []MetadataRecord
	for t := range w.Topics() {
		if typ == kmsg.ConfigResourceTypeTopic && t.Name != name {
			continue
		}
		old, _ := before.TopicByID(t.ID)
		for _, p := range t.Partitions {
			raised := old == nil || c.effectiveMinISR(w, t, p) > c.effectiveMinISR(before, old, p)
			if len(p.ELR) == 0 && len(p.LastKnownELR) == 0 && !raised {
				continue
			}
			rec, ok := c.newPartitionChange(w, t, p, acceptable).build()
			if !ok && raised {
				rec, ok = PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, Leader: NoLeaderChange}, true
			}
			if ok {
				out = append(out, rec)
			}
		}
	}
	return out
}
