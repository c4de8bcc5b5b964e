package etcdstore

// DieAfterCommitPoint makes s's large Updates stop right after their
// commit point, as a replica killed there would.
func DieAfterCommitPoint(s *Store) { s.dieAfterCommitPoint = true }
