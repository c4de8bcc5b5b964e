package incidents

// Prefetcher is what a store may implement on its Tx when every read is a
// network round trip (etcd): before ReceiveAlerts looks a payload's keys
// up one alert at a time, it names them, and the store reads them all in
// a few requests instead of two per alert. Reads through the Tx stay what
// they were; a prefetch only makes them cheaper. bbolt's reads are memory
// and it does not implement it.
type Prefetcher interface {
	// PrefetchFingerprints reads the grouping index (OpenByFingerprint)
	// for these fingerprints and group keys.
	PrefetchFingerprints(keys []string) error
	// PrefetchAlerts reads these alert records (Alert).
	PrefetchAlerts(refs []AlertRef) error
}

// AlertRef names one alert record: a fingerprint in an incident.
type AlertRef struct {
	Incident    uint64
	Fingerprint string
}

// prefetchIntake tells a Prefetcher tx what intake is about to read for
// these alerts: their fingerprints and group keys, then the records of
// the alerts in the incidents those point at.
func prefetchIntake(tx Tx, prepared []incomingAlert) error {
	p, ok := tx.(Prefetcher)
	if !ok || len(prepared) < 2 {
		return nil
	}
	keys := make([]string, 0, 2*len(prepared))
	for i := range prepared {
		keys = append(keys, prepared[i].fp)
		if prepared[i].groupKey != "" {
			keys = append(keys, prepared[i].groupKey)
		}
	}
	if err := p.PrefetchFingerprints(keys); err != nil {
		return err
	}
	refs := make([]AlertRef, 0, len(prepared))
	for i := range prepared {
		n, ok, err := tx.OpenByFingerprint(prepared[i].fp)
		if err == nil && !ok && prepared[i].groupKey != "" {
			n, ok, err = tx.OpenByFingerprint(prepared[i].groupKey)
		}
		if err != nil {
			return err
		}
		if ok {
			refs = append(refs, AlertRef{Incident: n, Fingerprint: prepared[i].fp})
		}
	}
	return p.PrefetchAlerts(refs)
}
