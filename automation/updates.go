package automation

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// PostUpdate is the "Post this update" button of a status_update step:
// the update the step's template suggests is posted with o (its actor and
// what o.Effects says; the text is the outcome's Incident.LastUpdate), and
// the update finishes the step (see incidents.Service.PostUpdate). A
// stale button — a step that is no longer current — is refused.
func (a *Automation) PostUpdate(ctx context.Context, o incidents.Origin, n uint64, stepID string) (incidents.Outcome, error) {
	inc, err := a.svc.Get(ctx, n)
	if err != nil {
		return incidents.Outcome{}, err
	}
	ps := a.svc.PlaybookStep(inc, stepID)
	if ps == nil || ps.Kind != playbooks.KindStatusUpdate {
		return incidents.Outcome{}, incidents.Refuse(incidents.ErrNoSuchStep, incidents.TextNoStatusUpdate, stepID, n)
	}
	if cur := inc.CurrentStep(); cur == nil || cur.ID != stepID {
		return incidents.Outcome{}, incidents.Refuse(incidents.ErrInvalidTransition, incidents.TextNotCurrentStep, stepID, n)
	}
	text, err := cards.SuggestedUpdate(inc, ps, a.cfg.Now())
	if err != nil {
		return incidents.Outcome{}, err
	}
	return a.svc.PostUpdate(ctx, o, n, text)
}

// UpdateEffects are what a status update says beyond the channel it was
// posted in: the pages of incidents.update_notifiers, and the update as
// stakeholders read it (UpdateText) in incidents.stakeholder_channels on
// platform, except channel, where it was just said.
func (a *Automation) UpdateEffects(inc *incidents.Incident, platform, channel string) []incidents.Effect {
	books := a.svc.Playbooks()
	if books == nil {
		return nil
	}
	key := fmt.Sprintf("firebreak-%d-update-%d", inc.Number, inc.Entries)
	effs := a.notifyEffects(inc, books.Incidents.UpdateNotifiers, "status_update", inc.LastUpdate, a.cfg.Now(), key)
	shared := cards.Message{Text: a.UpdateText(inc)}
	for _, sc := range books.Incidents.StakeholderChannels {
		if strings.EqualFold(strings.TrimPrefix(sc, "#"), strings.TrimPrefix(channel, "#")) {
			continue
		}
		effs = append(effs, cards.PostIn(inc.Number, incidents.Home{Platform: platform, Channel: sc}, shared))
	}
	return effs
}

// UpdateText is a status update as stakeholders read it: from
// incidents.update_template when playbooks.yaml has one, else the
// headline, the update and when the next one is due.
func (a *Automation) UpdateText(inc *incidents.Incident) string {
	books := a.svc.Playbooks()
	now := a.cfg.Now()
	var next time.Time
	if books != nil && books.Incidents.UpdateInterval > 0 {
		next = now.Add(books.Incidents.UpdateInterval.D())
	}
	if books != nil && books.Incidents.UpdateTemplate != "" {
		data := cards.StepData(inc, "", now)
		data.NextUpdate = next
		// The text is the operator's template filled with outside text
		// (titles, updates), so mentions are defused like any other.
		text, err := cards.RenderText("update_template", books.Incidents.UpdateTemplate, data)
		if err == nil {
			return incidents.DefuseMentions(text)
		}
		a.log.Warn("incidents.update_template failed; using the built-in update", "incident", inc.Number, "err", err)
	}
	text := fmt.Sprintf("📣 **Status update — #%d %s** (%s, %s)\n%s", inc.Number, cards.Escape(inc.Title), inc.Severity, inc.Status, cards.Escape(inc.LastUpdate))
	if !next.IsZero() {
		text += fmt.Sprintf("\n_Next update by %s._", cards.Clock(next))
	}
	return text
}
