package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"gregor/cluster"
)

// TestControllerOnlyVotersToldFeatures: with two controller-only voters
// and one broker, whichever voter leads must hear the other's feature
// ranges (ApiVersions on its CONTROLLER listener) before it finalizes a
// level above 0: raising transaction.version again after a downgrade
// succeeds once it has (without the asking it is refused for good: "has
// not told the features it supports").
func TestControllerOnlyVotersToldFeatures(t *testing.T) {
	c := newTestCluster(t, 2, 1, func(i int, cfg *Config) {
		if i < 2 {
			cfg.Roles = Roles{Controller: true}
		}
	})
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, c.node(2)))
	update := func(level int16, upgradeType int8) error {
		return updateFeature(ctx, adm, cluster.TransactionVersionFeature, level, upgradeType)
	}
	var err error
	waitFor(t, 30*time.Second, "transaction.version lowered to 0", func() bool {
		err = update(0, 2)
		return err == nil
	})
	var last error
	waitFor(t, 30*time.Second, "transaction.version raised to 2", func() bool {
		last = update(2, 1)
		if last != nil && !strings.Contains(last.Error(), "INVALID_UPDATE_VERSION") {
			t.Logf("raising transaction.version: %v", last)
		}
		return last == nil
	})
}
