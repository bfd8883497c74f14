package netio

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (key 18) is answered by netio from the served version table.
//
// Behaviour:
//   - a version outside the served range gets UNSUPPORTED_VERSION in the v0
//     layout, listing only ApiVersions and its range, so the client retries at
//     that version on the same connection (KIP-511);
//   - v3+: the client software name and version must match
//     [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?, else INVALID_REQUEST;
//   - v5+ (only when the Config names the cluster): ClusterID and NodeID are
//     both set or both unset, else INVALID_REQUEST; if set and not us,
//     REBOOTSTRAP_REQUIRED (KIP-1242);
//   - otherwise every served key with its range (from v0 for a key of
//     Config.AdvertiseFromZero), sorted by key, and (v3+) the feature
//     levels the Config's Features gives (KIP-584).
//
// The response header of ApiVersions never has a tag byte (see
// responseHeaderHasTags).

// brokerIdentity is what ApiVersions v5 checks a client's expectation against.
type brokerIdentity struct {
	clusterID string
	nodeID    int32
}

// answerAPIVersions builds the response to an ApiVersions request.
func answerAPIVersions(d *decodedRequest, versions *versionTable, identity brokerIdentity) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	if d.unsupportedAPIVersions() {
		served, _ := versions.lookup(apiVersionsKey)
		resp.Version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey = apiVersionsKey
		key.MinVersion = served.minVersion
		key.MaxVersion = served.maxVersion
		resp.ApiKeys = append(resp.ApiKeys, key)
		return resp
	}
	req := d.body.(*kmsg.ApiVersionsRequest)
	resp.Version = req.Version
	if code := checkAPIVersionsRequest(req, identity); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	resp.ApiKeys = make([]kmsg.ApiVersionsResponseApiKey, 0, len(versions.sorted))
	for _, r := range versions.sorted {
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey = r.APIKey
		key.MinVersion = r.MinVersion
		if versions.fromZero[r.APIKey] {
			key.MinVersion = 0
		}
		key.MaxVersion = r.MaxVersion
		resp.ApiKeys = append(resp.ApiKeys, key)
	}
	return resp
}

// checkAPIVersionsRequest returns the error code for a request Kafka would
// refuse, 0 if it is valid.
func checkAPIVersionsRequest(req *kmsg.ApiVersionsRequest, identity brokerIdentity) int16 {
	if req.Version >= 3 && (!validSoftwareLabel(req.ClientSoftwareName) || !validSoftwareLabel(req.ClientSoftwareVersion)) {
		return kerr.InvalidRequest.Code
	}
	if req.Version >= 5 {
		namesCluster, namesNode := req.ClusterID != nil, req.NodeID != -1
		switch {
		case namesCluster != namesNode:
			return kerr.InvalidRequest.Code
		case namesCluster && (*req.ClusterID != identity.clusterID || req.NodeID != identity.nodeID):
			return kerr.RebootstrapRequired.Code
		}
	}
	return 0
}

// softwareLabelPattern is Kafka's pattern for the client software name and
// version of ApiVersions v3+.
var softwareLabelPattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

// validSoftwareLabel reports whether s is a valid client software name or
// version.
func validSoftwareLabel(s string) bool { return softwareLabelPattern.MatchString(s) }
