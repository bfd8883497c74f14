package netio

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// PrivateAPI is an API key that kmsg does not know, served by a listener (see
// Config.PrivateAPIs) with request and response types supplied by the caller.
// netio stays generic: it frames, decodes and encodes such a request through
// the kmsg.Request and kmsg.Response methods of those types, exactly as it
// does kmsg's own. A Client needs no registration to send one: it learns from
// the peer's ApiVersions whether the peer serves the key.
//
// Kafka has no range of keys set aside for private use: pick one far above
// Kafka's (which are below 100), so that a Kafka client never sends it.
type PrivateAPI struct {
	// APIKey is the key; kmsg must not know it.
	APIKey int16
	// MinVersion and MaxVersion are the versions served, inclusive,
	// within 0..NewRequest().MaxVersion().
	MinVersion, MaxVersion int16
	// Name names the API in log lines and errors.
	Name string
	// NewRequest returns an empty request of this key, for decoding into.
	// Its ResponseKind gives the response type, whose Key must be APIKey
	// too.
	NewRequest func() kmsg.Request
}

// privateEntry is a served private key.
type privateEntry struct {
	versionRangeEntry
	api PrivateAPI
}

// addPrivate adds the private APIs to the table and to its ApiVersions
// entries.
func (t *versionTable) addPrivate(apis []PrivateAPI) error {
	for _, api := range apis {
		if err := checkPrivateAPI(api); err != nil {
			return err
		}
		if _, ok := t.lookup(api.APIKey); ok {
			return fmt.Errorf("private API key %d listed twice", api.APIKey)
		}
		if t.private == nil {
			t.private = make(map[int16]privateEntry, len(apis))
		}
		t.private[api.APIKey] = privateEntry{
			versionRangeEntry: versionRangeEntry{served: true, minVersion: api.MinVersion, maxVersion: api.MaxVersion},
			api:               api,
		}
		t.sorted = append(t.sorted, APIVersionRange{APIKey: api.APIKey, MinVersion: api.MinVersion, MaxVersion: api.MaxVersion})
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i].APIKey < t.sorted[j].APIKey })
	return nil
}

// checkPrivateAPI reports what is wrong with a private API's declaration.
func checkPrivateAPI(api PrivateAPI) error {
	if api.APIKey < 0 || kmsg.RequestForKey(api.APIKey) != nil {
		return fmt.Errorf("private API key %d: must be a key unknown to kmsg", api.APIKey)
	}
	if api.NewRequest == nil {
		return fmt.Errorf("private API key %d: no NewRequest", api.APIKey)
	}
	req := api.NewRequest()
	if req == nil || req.Key() != api.APIKey {
		return fmt.Errorf("private API key %d: NewRequest makes a request of another key", api.APIKey)
	}
	if resp := req.ResponseKind(); resp == nil || resp.Key() != api.APIKey {
		return fmt.Errorf("private API key %d: its response kind has another key", api.APIKey)
	}
	if api.MinVersion < 0 || api.MinVersion > api.MaxVersion || api.MaxVersion > req.MaxVersion() {
		return fmt.Errorf("private API key %d: bad version range %d..%d (type max %d)",
			api.APIKey, api.MinVersion, api.MaxVersion, req.MaxVersion())
	}
	return nil
}

// lookupPrivate returns the served range of a private key.
func (t *versionTable) lookupPrivate(key int16) (versionRangeEntry, bool) {
	e, ok := t.private[key]
	return e.versionRangeEntry, ok
}

// newRequest returns an empty request of a served key, nil for a key that is
// neither kmsg's nor private.
func (t *versionTable) newRequest(key int16) kmsg.Request {
	if e, ok := t.private[key]; ok {
		return e.api.NewRequest()
	}
	return kmsg.RequestForKey(key)
}

// apiName names a key for log lines and errors.
func (t *versionTable) apiName(key int16) string {
	if e, ok := t.private[key]; ok {
		if e.api.Name != "" {
			return e.api.Name
		}
		return fmt.Sprintf("private API %d", key)
	}
	return kmsg.NameForKey(key)
}
