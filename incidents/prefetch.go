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

// Encoder is what a store may implement when one goroutine applies every
// write (bbolt's committer): encoding records there is time every other
// writer waits for, while the callers' goroutines have CPU to spare.
// ReceiveAlerts has it encode, in the caller's goroutine before the
// transaction, the record and the timeline entry each firing alert would
// add if it is new, and hands them back through the Tx's EncodedTx. An
// encoding is used only while the value it was made from is unchanged.
// Implementations must be safe for concurrent use.
type Encoder interface {
	// EncodeAlert encodes what monitoring said about a (not its
	// counters: firing, count, first and last seen).
	EncodeAlert(a *AlertState) []byte
	// EncodeEntry encodes e apart from its Incident and Seq.
	EncodeEntry(e *Entry) []byte
}

// EncodedTx is the Tx of an Encoder's store. Neither method keeps or
// changes the bytes it is given beyond the transaction (a transaction
// function may run again with them).
type EncodedTx interface {
	// PutAlertEncoded is PutAlert given content = EncodeAlert(&a).
	PutAlertEncoded(number uint64, a AlertState, content []byte) error
	// AppendEncodedEntry is AppendEntry given body = EncodeEntry(e).
	AppendEncodedEntry(e *Entry, body []byte) error
}
