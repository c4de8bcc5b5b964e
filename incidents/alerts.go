package incidents

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/firebreak/firebreak/playbooks"
)

// ReceiveAlert records an alert: it opens an incident (choosing the
// playbook by the configured match rules) unless the alert's fingerprint is
// grouped into an open one, in which case the repeat is counted on that
// incident's timeline. A resolved alert marks its incident mitigated once
// every alert in it has resolved. o.Home becomes the home of a new incident.
func (s *Service) ReceiveAlert(ctx context.Context, o Origin, a Alert) (Outcome, error) {
	outs, err := s.ReceiveAlerts(ctx, o, []Alert{a})
	if err != nil {
		return Outcome{}, err
	}
	return outs[0], nil
}

// ReceiveAlerts records a batch of alerts (one webhook payload) in ONE
// transaction, each exactly as ReceiveAlert would, in order: later alerts see
// the incidents earlier ones opened. o.EventID dedupes the whole batch. The
// outcomes are in the order of alerts.
//
// Outcomes of alerts that touched the same incident share one *Incident:
// its state after the whole batch. Each touched incident is loaded once and
// written once per batch, so an alert storm costs one timeline entry per
// alert and not one incident write.
func (s *Service) ReceiveAlerts(ctx context.Context, o Origin, alerts []Alert) ([]Outcome, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	now := s.now()
	g := s.grouping()
	// Everything that needs no store is worked out before the transaction,
	// which may hold the write lock for other writers too.
	enc, _ := s.store.(Encoder)
	actor := o.Actor
	if actor.IsZero() {
		actor = Bot // as change.add fills it in
	}
	prepared := make([]incomingAlert, len(alerts))
	for i := range alerts {
		prepared[i] = prepareAlert(alerts[i], g.by, now)
	}
	for i, seen := range s.repeats.recent(prepared) {
		if prepared[i].firing && !seen {
			prepared[i].prepareNew(enc, now, actor)
		}
	}
	var outs []Outcome
	var in *intake
	err := s.store.Update(ctx, func(tx Tx) error {
		outs = make([]Outcome, len(alerts))
		dup, err := markSeen(tx, o, now)
		if err != nil {
			return err
		}
		if dup {
			for i := range prepared {
				outs[i] = Outcome{Duplicate: true, Incident: openIncidentOf(tx, prepared[i].fp)}
			}
			return nil
		}
		if err := prefetchIntake(tx, prepared); err != nil {
			return err
		}
		in = newIntake(s, tx, now, o, g, len(prepared))
		for i := range prepared {
			if outs[i], err = in.receive(&prepared[i]); err != nil {
				return err
			}
		}
		if err := in.save(); err != nil {
			return err
		}
		return recordEffects(tx, o, outs, now)
	})
	if err != nil {
		return nil, err
	}
	s.logIntake(ctx, o, outs, in)
	return outs, nil
}

// incomingAlert is an alert with everything derived from it alone,
// worked out before the transaction (in the caller's goroutine, not the
// store's one committer).
type incomingAlert struct {
	Alert
	firing   bool
	fp       string
	groupKey string
	title    string
	// text is Text trimmed and bounded, as records and entries keep it.
	text string

	// What a firing alert adds when it is new to its incident, worked
	// out by prepareNew (prepared) unless it looked like a repeat: its
	// timeline entry, and (when the store has an Encoder) that entry's
	// and its record's encodings.
	prepared          bool
	instance          string
	entry             Entry
	entryBody, record []byte
}

// prepareNew works out what p adds if it turns out to be new to its
// incident. Most alerts of a storm are, and each is worked out here, in
// the caller's goroutine, rather than by the store's one committer; for a
// repeat the work is wasted, about a microsecond.
func (p *incomingAlert) prepareNew(enc Encoder, now time.Time, actor Actor) {
	p.prepared = true
	p.instance = instanceOf(p.Labels)
	p.entry = alertEntry(p)
	p.entry.At, p.entry.Actor = now, actor
	if enc == nil {
		return
	}
	p.entryBody = enc.EncodeEntry(&p.entry)
	st := p.newState(now)
	p.record = enc.EncodeAlert(&st)
}

// newState is the record of p as a new distinct alert of its incident.
// It shares the alert's label and annotation maps: nothing changes them,
// and stores copy what PutAlert is given.
func (p *incomingAlert) newState(now time.Time) AlertState {
	instance := p.instance
	if !p.prepared {
		instance = instanceOf(p.Labels)
	}
	return AlertState{
		Fingerprint: p.fp, Name: p.Name, Title: p.title, Instance: instance,
		Source: p.Source, URL: p.URL, Labels: p.Labels, Annotations: p.Annotations,
		Text: p.text, StartsAt: p.StartsAt,
		Firing: true, Count: 1, FirstSeen: now, LastSeen: now,
	}
}

func prepareAlert(a Alert, groupBy []string, now time.Time) incomingAlert {
	p := incomingAlert{Alert: a, firing: a.Status != AlertResolved, fp: Fingerprint(a), groupKey: GroupKey(a, groupBy)}
	title := strings.TrimSpace(firstLine(strings.TrimSpace(a.Title)))
	if title == "" {
		title = strings.TrimSpace(firstLine(strings.TrimSpace(a.Name)))
	}
	if title == "" {
		title = "Alert"
	}
	p.title = Truncate(title, MaxTitleLen)
	p.text = Truncate(strings.TrimSpace(a.Text), MaxTextLen)
	if !p.StartsAt.IsZero() && p.StartsAt.After(now) {
		p.StartsAt = time.Time{} // a clock ahead of ours says nothing about when it began
	}
	return p
}

// matchInput flattens what match rules look at.
func matchInput(name, text, service string, sev Severity, labels map[string]string) playbooks.MatchInput {
	return playbooks.MatchInput{Name: name, Text: text, Service: service, Severity: sevName(sev), Labels: labels}
}

// openIncidentOf loads the open incident fp is grouped into, if any.
func openIncidentOf(tx ReadTx, fp string) *Incident {
	n, ok, err := tx.OpenByFingerprint(fp)
	if err != nil || !ok {
		return nil
	}
	inc, err := tx.Incident(n)
	if err != nil {
		return nil
	}
	return inc
}

// intake applies one batch of alerts inside one transaction. It is built
// anew every time the store runs the transaction function.
type intake struct {
	s      *Service
	tx     Tx
	etx    EncodedTx // tx, when it takes encodings made before it
	now    time.Time
	origin Origin
	g      grouping

	touched map[uint64]*touchedIncident
	order   []uint64 // touched incidents in first-touch order, for writing
	// index caches fingerprint and group key lookups; 0 = no open incident.
	index map[string]uint64
	// size is how many alerts the batch holds, to size what grows with it.
	size int
	// entries backs the outcomes' Entries: one allocation per batch
	// rather than one per alert that adds an entry (made on first use: a
	// batch of repeats adds none).
	entries []Entry
	// queued lists the alert records to write, in the order the batch
	// first changed them (one list per batch, not one per incident: a
	// batch of 100 alerts over 20 incidents would grow 20).
	queued []*batchAlert

	// received counts the alerts receive was given so far.
	received int

	created, repeats, reopened, resolved, ignored int
}

// newIntake starts a batch of size alerts. The lookup index is sized for
// one fingerprint per alert, so a storm of distinct alerts does not grow
// it alert by alert; what a batch of repeats would not fill (more room,
// the entries) is not made up front: at 100 alerts per call that cost a
// repeat as much as the growth saved a distinct alert.
func newIntake(s *Service, tx Tx, now time.Time, o Origin, g grouping, size int) *intake {
	in := &intake{s: s, tx: tx, now: now, origin: o, g: g, size: size,
		touched: make(map[uint64]*touchedIncident),
		index:   make(map[string]uint64, size)}
	in.etx, _ = tx.(EncodedTx)
	return in
}

// touchedIncident is an incident loaded into the batch.
type touchedIncident struct {
	inc   *Incident
	dirty bool
	// alerts caches the incident's alert records this batch read or
	// changed (nil: the incident holds no such alert), so a batch reads and
	// writes each record at most once.
	alerts map[string]*batchAlert
	// first is the record of the alert that opened the incident in this
	// batch (nil for one opened before): the only record such an incident
	// has, kept outside alerts so that a storm of alerts that each open an
	// incident makes no map for each.
	first *batchAlert
}

// opening is what an alert that opens an incident allocates, in one
// allocation rather than four: the incident, its card copy of the alert,
// and the batch's view of both.
type opening struct {
	inc  Incident
	card [1]AlertState
	t    touchedIncident
	a    batchAlert
}

// batchAlert is an alert record as this batch sees it.
type batchAlert struct {
	st AlertState
	// inc is the incident it belongs to (numbered only once created, for
	// an alert that opens one).
	inc   *Incident
	dirty bool
	// record is the store's encoding of what monitoring said (st apart
	// from its counters) while st still says it; nil when unknown.
	record []byte
}

// alert returns the record of fp in t (nil when t holds no such alert),
// reading it on first use: one keyed read, whatever the incident holds.
func (in *intake) alert(t *touchedIncident, fp string) (*batchAlert, error) {
	if a := t.first; a != nil && a.st.Fingerprint == fp {
		return a, nil
	}
	if a, ok := t.alerts[fp]; ok {
		return a, nil
	}
	if t.alerts == nil {
		// The first incident a batch touches usually gets all of it (a
		// storm of one group): sized for the batch, it is not grown alert
		// by alert. Others are not: a batch spread over 20 incidents would
		// make room for 20 batches.
		hint := 0
		if len(in.touched) == 1 {
			hint = in.size
		}
		t.alerts = make(map[string]*batchAlert, hint)
	}
	st, ok, err := in.tx.Alert(t.inc.Number, fp)
	if err != nil {
		return nil, fmt.Errorf("load alert %s of incident #%d: %w", fp, t.inc.Number, err)
	}
	var a *batchAlert
	if ok {
		a = &batchAlert{st: st, inc: t.inc}
	}
	t.alerts[fp] = a
	return a, nil
}

// changed marks a as to be stored and keeps the incident's card copy of it
// current.
func (in *intake) changed(t *touchedIncident, a *batchAlert) {
	in.markDirty(a)
	t.dirty = true
	for i := range t.inc.Alerts {
		if t.inc.Alerts[i].Fingerprint == a.st.Fingerprint {
			t.inc.Alerts[i] = a.st.cardView()
			return
		}
	}
	if len(t.inc.Alerts) < MaxCardAlerts {
		t.inc.Alerts = append(t.inc.Alerts, a.st.cardView())
	}
}

// markDirty queues a's record to be written once by save.
func (in *intake) markDirty(a *batchAlert) {
	if a.dirty {
		return
	}
	a.dirty = true
	if in.queued == nil {
		in.queued = make([]*batchAlert, 0, in.size)
	}
	in.queued = append(in.queued, a)
}

// lookup finds the open incident key (a fingerprint or group key) points
// at; resolved incidents never count, whatever a stale index says.
func (in *intake) lookup(key string) (*touchedIncident, error) {
	if key == "" {
		return nil, nil
	}
	n, cached := in.index[key]
	if !cached {
		num, ok, err := in.tx.OpenByFingerprint(key)
		if err != nil {
			return nil, fmt.Errorf("look up alert %s: %w", key, err)
		}
		if ok {
			n = num
		}
	}
	if n == 0 {
		in.index[key] = 0
		return nil, nil
	}
	t, err := in.load(n)
	if err != nil {
		return nil, err
	}
	if t == nil || !t.inc.Status.Open() {
		in.index[key] = 0
		return nil, nil
	}
	in.index[key] = n
	return t, nil
}

// load returns incident n from the batch, reading it on first use; nil when
// the index points at an incident that does not exist.
func (in *intake) load(n uint64) (*touchedIncident, error) {
	if t, ok := in.touched[n]; ok {
		return t, nil
	}
	inc, err := in.tx.Incident(n)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("load incident #%d: %w", n, err)
	}
	t := &touchedIncident{inc: inc}
	in.touched[n] = t
	in.order = append(in.order, n)
	return t, nil
}

// group indexes key → incident n within this transaction.
func (in *intake) group(key string, n uint64) error {
	if err := in.tx.SetOpenFingerprint(key, n); err != nil {
		return fmt.Errorf("group alert %s into incident #%d: %w", key, n, err)
	}
	in.index[key] = n
	return nil
}

func (in *intake) receive(p *incomingAlert) (Outcome, error) {
	in.received++
	if !p.firing {
		t, err := in.lookup(p.fp)
		if err != nil || t == nil {
			in.ignored++
			return Outcome{}, err
		}
		return in.resolveAlert(t, p)
	}
	t, err := in.lookup(p.fp)
	if err != nil {
		return Outcome{}, err
	}
	if t == nil && p.groupKey != "" {
		if t, err = in.lookup(p.groupKey); err != nil {
			return Outcome{}, err
		}
		if t != nil && in.now.Sub(t.inc.OpenedAt) >= in.g.window {
			t = nil // the group's incident is too old to gather more alerts
		}
	}
	if t == nil {
		return in.open(p)
	}
	return in.repeat(t, p)
}

// add appends e to t's timeline and to out.
func (in *intake) add(t *touchedIncident, out *Outcome, e Entry) error {
	return in.addEncoded(t, out, e, nil)
}

// addNew appends the entry of p, new to t, to t's timeline and to out.
func (in *intake) addNew(t *touchedIncident, out *Outcome, p *incomingAlert) error {
	if !p.prepared {
		return in.add(t, out, alertEntry(p))
	}
	return in.addEncoded(t, out, p.entry, p.entryBody)
}

// addEncoded is add given body, e's encoding by the store (nil: none).
func (in *intake) addEncoded(t *touchedIncident, out *Outcome, e Entry, body []byte) error {
	// An entry alone does not rewrite the incident record: stores keep the
	// timeline's count themselves (Incident.Entries is filled on read).
	c := change{tx: in.tx, inc: t.inc, now: in.now, actor: in.origin.Actor, out: out, body: body, encoded: in.etx}
	if out.Entries == nil {
		// The outcome's first entry: a slot of the batch's array, capped
		// so that a second entry gets a slice of its own.
		if in.entries == nil {
			in.entries = make([]Entry, 0, in.size)
		}
		c.buf = &in.entries
	}
	return c.add(e)
}

// alertEntry describes an alert that opened or joined an incident.
func alertEntry(p *incomingAlert) Entry {
	annotations := p.Annotations
	if !withinBounds(annotations) {
		// Within bounds, bounding would copy them unchanged.
		annotations = boundAnnotations(annotations)
	}
	sev := sevName(p.Severity)
	// Sized for what it will hold, so the map is not grown while it is
	// filled (one per new distinct alert), nor made bigger than that: up
	// to 8 entries fit one group of slots, one allocation instead of a
	// table and its directory.
	size := 1 + len(annotations)
	for _, v := range [...]string{p.Source, p.Name, p.URL, p.Service, sev, p.groupKey, p.text} {
		if v != "" {
			size++
		}
	}
	if !p.StartsAt.IsZero() {
		size++
	}
	data := make(map[string]string, size)
	data["fingerprint"] = p.fp
	set := func(k, v string) {
		if v != "" {
			data[k] = v
		}
	}
	set("source", p.Source)
	set("name", p.Name)
	set("url", p.URL)
	set("service", p.Service)
	set("severity", sev)
	set("group", p.groupKey)
	set("text", p.text)
	for k, v := range annotations {
		set(annotationKey(k), v)
	}
	if !p.StartsAt.IsZero() {
		data["starts_at"] = p.StartsAt.UTC().Format(time.RFC3339)
	}
	return Entry{Kind: EntryAlert, Text: p.title, Data: data}
}

// open starts an incident for an alert nothing is grouped with yet.
func (in *intake) open(p *incomingAlert) (Outcome, error) {
	pb := in.s.match(matchInput(p.Name, p.title+"\n"+p.Text, p.Service, p.Severity, p.Labels))
	o := new(opening)
	inc := &o.inc
	in.s.startIncident(inc, pb, in.now, in.origin.Home, p.title, p.Severity)
	inc.Service = p.Service
	inc.Labels = maps.Clone(p.Labels)
	inc.Fingerprint = p.fp
	// The trigger's labels are the incident's: one copy of the alert's
	// serves both (nothing changes either in place; Clone copies each).
	inc.Trigger = triggerOf(p, inc.Labels)
	inc.GroupKey = p.groupKey
	inc.DetectedAt = p.StartsAt
	inc.AlertCount, inc.DistinctAlerts, inc.FiringAlerts = 1, 1, 1
	inc.FirstAlertAt, inc.LastAlertAt = in.now, in.now
	// Stored complete by CreateIncident: not written again unless a later
	// alert of the batch changes it.
	t := &o.t
	t.inc = inc
	a := &o.a
	*a = batchAlert{st: p.newState(in.now), inc: inc, record: p.record}
	t.first = a
	in.markDirty(a)
	o.card[0] = a.st.cardView()
	inc.Alerts = o.card[:]
	if err := in.tx.CreateIncident(inc); err != nil {
		return Outcome{}, fmt.Errorf("open an incident for alert %q: %w", p.title, err)
	}
	if err := in.s.scheduleEscalation(in.tx, inc, in.now); err != nil {
		return Outcome{}, err
	}
	if err := in.s.scheduleStepReminder(in.tx, inc, in.now); err != nil {
		return Outcome{}, err
	}
	if len(in.touched) == 0 {
		// The batch's first incident, opened before it touched any other:
		// in a storm of alerts that each open one, so do the rest of the
		// batch, and room made for them at once is not grown incident by
		// incident (a batch of repeats never gets here).
		rest := in.size - in.received + 1
		in.touched = make(map[uint64]*touchedIncident, rest)
		in.order = make([]uint64, 0, rest)
	}
	in.touched[inc.Number] = t
	in.order = append(in.order, inc.Number)
	for _, key := range []string{p.fp, p.groupKey} {
		if key == "" {
			continue
		}
		if err := in.group(key, inc.Number); err != nil {
			return Outcome{}, err
		}
	}
	out := Outcome{Incident: inc, Created: true, StepChanged: len(inc.Steps) > 0}
	// p.entry is alertEntryWith(p, inc.Trigger.Annotations): both bound
	// the annotations the same way.
	if err := in.addNew(t, &out, p); err != nil {
		return Outcome{}, err
	}
	in.created++
	return out, nil
}

// newAlert is the record of an alert t has not held before (see
// incomingAlert.newState).
func (in *intake) newAlert(t *touchedIncident, p *incomingAlert) *batchAlert {
	a := &batchAlert{st: p.newState(in.now), inc: t.inc, record: p.record}
	if t.alerts == nil {
		t.alerts = make(map[string]*batchAlert)
	}
	t.alerts[p.fp] = a
	return a
}

// instanceOf is the label that tells alerts of one group apart.
func instanceOf(labels map[string]string) string {
	for _, k := range []string{"instance", "pod", "host", "hostname", "node", "container", "job"} {
		if v := strings.TrimSpace(labels[k]); v != "" {
			return Truncate(firstLine(v), MaxTitleLen)
		}
	}
	return ""
}

// repeat records a firing alert on the open incident it belongs to, and
// reopens that incident when it was mitigated only moments ago (flapping).
// A repeat of a firing alert only counts on its record; the timeline gets
// an entry when a distinct alert first fires and when a resolved one fires
// again, so a storm of repeats leaves one entry per distinct alert.
func (in *intake) repeat(t *touchedIncident, p *incomingAlert) (Outcome, error) {
	inc := t.inc
	inc.AlertCount++
	inc.LastAlertAt = in.now
	t.dirty = true
	out := Outcome{Incident: inc, Repeat: true, AlertTitle: p.title}
	a, err := in.alert(t, p.fp)
	if err != nil {
		return Outcome{}, err
	}
	switch {
	case a == nil:
		a = in.newAlert(t, p)
		inc.DistinctAlerts++
		inc.FiringAlerts++
		if err := in.group(p.fp, inc.Number); err != nil {
			return Outcome{}, err
		}
		if err := in.addNew(t, &out, p); err != nil {
			return Outcome{}, err
		}
	case !a.st.Firing:
		a.st.Firing, a.st.ResolvedAt = true, time.Time{}
		inc.FiringAlerts++
		a.st.Count++
		a.st.LastSeen = in.now
		if err := in.add(t, &out, Entry{
			Kind: EntryAlertRepeat,
			Text: fmt.Sprintf("%s fired again after it had resolved (%d times in all)", a.st.Title, a.st.Count),
			Data: map[string]string{"fingerprint": p.fp, "count": count(a.st.Count), "alert_count": count(inc.AlertCount)},
		}); err != nil {
			return Outcome{}, err
		}
	default:
		a.st.Count++
		a.st.LastSeen = in.now
	}
	if p.text != "" && p.text != a.st.Text {
		a.st.Text = p.text
		a.record = nil // no longer what was encoded
	}
	in.changed(t, a)
	if inc.Status == StatusMitigated && in.now.Sub(inc.MitigatedAt) <= in.g.flap {
		after := in.now.Sub(inc.MitigatedAt).Round(time.Second)
		inc.Status = StatusAcknowledged
		if inc.AcknowledgedAt.IsZero() {
			inc.Status = StatusTriggered
		}
		inc.MitigatedAt, inc.MitigatedBy = time.Time{}, Actor{}
		reopen := Entry{
			Kind:  EntryReopened,
			Actor: Bot,
			Text:  fmt.Sprintf("alert %s fired again %s after mitigation; back to %s", p.title, humanDuration(after), inc.Status),
			Data:  map[string]string{"fingerprint": p.fp, "after": after.String(), "status": string(inc.Status)},
		}
		if err := in.add(t, &out, reopen); err != nil {
			return Outcome{}, err
		}
		if inc.Status == StatusTriggered {
			if err := in.s.scheduleEscalation(in.tx, inc, in.now); err != nil {
				return Outcome{}, err
			}
		}
		out.Repeat = false
		in.reopened++
		return out, nil
	}
	in.repeats++
	return out, nil
}

// resolveAlert records that monitoring resolved one of t's alerts, and
// mitigates the incident once none of its alerts fires any more.
func (in *intake) resolveAlert(t *touchedIncident, p *incomingAlert) (Outcome, error) {
	inc := t.inc
	a, err := in.alert(t, p.fp)
	if err != nil {
		return Outcome{}, err
	}
	if a == nil || !a.st.Firing {
		in.ignored++
		return Outcome{Incident: inc}, nil // nothing new: already resolved
	}
	a.st.Firing, a.st.ResolvedAt = false, in.now
	inc.FiringAlerts = max(inc.FiringAlerts-1, 0)
	in.changed(t, a)
	out := Outcome{Incident: inc}
	if err := in.add(t, &out, Entry{
		Kind: EntryAlertResolved,
		Text: a.st.Title + " resolved",
		Data: map[string]string{"fingerprint": p.fp, "source": p.Source},
	}); err != nil {
		return Outcome{}, err
	}
	in.resolved++
	if inc.Status != StatusTriggered && inc.Status != StatusAcknowledged {
		return out, nil
	}
	if inc.FiringAlerts > 0 {
		return out, nil
	}
	inc.Status = StatusMitigated
	inc.MitigatedAt, inc.MitigatedBy = in.now, Bot
	if err := in.tx.DeleteTimers(inc.Number, "escalate/"); err != nil {
		return Outcome{}, fmt.Errorf("cancel the escalation of incident #%d: %w", inc.Number, err)
	}
	if err := in.add(t, &out, Entry{Kind: EntryMitigated, Actor: Bot, Text: "all alerts resolved"}); err != nil {
		return Outcome{}, err
	}
	return out, nil
}

// save writes every alert record and every incident the batch changed,
// once each.
func (in *intake) save() error {
	for _, a := range in.queued {
		var err error
		if a.record != nil && in.etx != nil {
			err = in.etx.PutAlertEncoded(a.inc.Number, a.st, a.record)
		} else {
			err = in.tx.PutAlert(a.inc.Number, a.st)
		}
		if err != nil {
			return fmt.Errorf("save alert %s of incident #%d: %w", a.st.Fingerprint, a.inc.Number, err)
		}
		a.dirty = false
	}
	in.queued = in.queued[:0]
	for _, n := range in.order {
		t := in.touched[n]
		if !t.dirty {
			continue
		}
		t.inc.UpdatedAt = in.now
		if err := in.tx.PutIncident(t.inc); err != nil {
			return fmt.Errorf("save incident #%d: %w", n, err)
		}
	}
	return nil
}

func (s *Service) logIntake(ctx context.Context, o Origin, outs []Outcome, in *intake) {
	if in == nil {
		s.log.DebugContext(ctx, "redelivered alerts ignored", "event", o.EventID, "alerts", len(outs))
		return
	}
	// Checked once: in a storm of new incidents, building the attributes
	// of lines nobody logs cost an allocation or two per alert.
	if s.log.Enabled(ctx, slog.LevelInfo) {
		for _, out := range outs {
			if out.Created {
				s.log.InfoContext(ctx, "incident opened by alert",
					"incident", out.Incident.Number, "title", out.Incident.Title,
					"severity", out.Incident.Severity.String(), "playbook", out.Incident.Playbook)
			}
		}
	}
	if in.reopened > 0 {
		s.log.InfoContext(ctx, "flapping alerts reopened incidents", "reopened", in.reopened)
	}
	if in.ignored > 0 {
		s.log.DebugContext(ctx, "resolved alerts without an open incident ignored", "alerts", in.ignored)
	}
	s.log.DebugContext(ctx, "alerts received", "alerts", len(outs), "created", in.created,
		"repeats", in.repeats, "resolved", in.resolved, "event", o.EventID)
}
