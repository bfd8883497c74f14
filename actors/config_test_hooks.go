package actors

// testHooks are the settings of a Config only tests set.
type testHooks struct {
	// poisonReleasedBuffers makes netio overwrite every request buffer
	// handed back to its pool, so a read after release fails a test.
	poisonReleasedBuffers bool
	// lifecycleSpawning runs while the broker lifecycle actor is being
	// spawned: its name is listed, its mailbox not yet set up.
	lifecycleSpawning func(*Node)
	// proposalSent runs when the controller hands a batch to the quorum
	// actor.
	proposalSent func()
}
