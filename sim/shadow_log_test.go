package sim

// pushID adds a batch known by its id alone (no producer): the tests build
// shadows of logs with it.
func (s *shadowLog) pushID(base, last int64, epoch int32, crc uint32) {
	s.pushBatch(shadowBatch{base: base, last: last, epoch: epoch, crc: crc, pid: -1, pepoch: -1, seq: -1})
}
