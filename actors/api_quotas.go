package actors

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gregor has no client quotas and no SCRAM users yet. It still answers the
// two APIs that list them, so that tools which read them (Kafka's
// kafka-configs --describe --entity-type clients|users|ips) show that none
// are set instead of stopping on an API the broker does not serve.
// AlterClientQuotas and AlterUserScramCredentials are not served: setting
// either is refused as unsupported.

// quotaEntityTypes are the entity types a client quota names (Kafka's
// ClientQuotaEntity).
var quotaEntityTypes = map[string]bool{"user": true, "client-id": true, "ip": true}

// describeClientQuotas answers DescribeClientQuotas: no entity has a quota.
// A filter Kafka would refuse is refused the same way.
func describeClientQuotas(req *kmsg.DescribeClientQuotasRequest) *kmsg.DescribeClientQuotasResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	seen := map[string]bool{}
	for _, c := range req.Components {
		var problem string
		switch {
		case !quotaEntityTypes[c.EntityType]:
			problem = fmt.Sprintf("custom entity type %q is not supported", c.EntityType)
		case seen[c.EntityType]:
			problem = fmt.Sprintf("duplicate filter component entity type %q", c.EntityType)
		case c.MatchType < 0 || c.MatchType > 2:
			problem = fmt.Sprintf("unknown match type %d", c.MatchType)
		case c.MatchType == 0 && c.Match == nil:
			problem = "an exact match needs an entity name"
		}
		if problem != "" {
			resp.ErrorCode = kerr.InvalidRequest.Code
			resp.ErrorMessage = kmsg.StringPtr(problem)
			return resp
		}
		seen[c.EntityType] = true
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	return resp
}

// describeUserSCRAMCredentials answers DescribeUserScramCredentials: no
// user has credentials. Asked for all users, the answer lists none; each
// user asked for by name is RESOURCE_NOT_FOUND, or DUPLICATE_RESOURCE when
// named twice, as from Kafka.
func describeUserSCRAMCredentials(req *kmsg.DescribeUserSCRAMCredentialsRequest) *kmsg.DescribeUserSCRAMCredentialsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	resp.Results = []kmsg.DescribeUserSCRAMCredentialsResponseResult{}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range req.Users {
		if done[u.Name] {
			continue
		}
		done[u.Name] = true
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u.Name
		if count[u.Name] > 1 {
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name)
		} else {
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("attempt to describe a user credential that does not exist: " + u.Name)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}
