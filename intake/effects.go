package intake

import (
	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
)

// The functions here run inside the intake transaction (see
// incidents.EffectsFunc), so they only compute.

// alertEffects are the posts one alert outcome causes in home (a channel
// and maybe a thread of one platform): the card (keyed cards.CardKey) and
// first step of a new incident — only the card when it is to get a room,
// whose opening turns the card into a pointer — or the news of a reopen
// or mitigation, in the incident's thread there and in its room. Repeats
// say nothing here: the coalescer summarises them.
func (in *Intake) alertEffects(out incidents.Outcome, home incidents.Home, withRooms bool) []incidents.Effect {
	inc := out.Incident
	if inc == nil || out.Duplicate || out.Repeat {
		return nil
	}
	if out.Created {
		return in.renderer(home.Platform).OpeningEffects(inc, home, withRooms)
	}
	// News about an incident (reopened, mitigated) joins its thread, not
	// the thread of the alert message that brought it.
	if inc.Home.Thread != "" && inc.Home.Platform == home.Platform && inc.Home.Channel == home.Channel {
		home.Thread = inc.Home.Thread
	}
	var effs []incidents.Effect
	for _, m := range cards.AlertNews(inc, out.Entries) {
		effs = append(effs, cards.PostIn(inc.Number, home, m))
		if !inc.Mirror.IsZero() && inc.Home != home {
			effs = append(effs, cards.PostHome(inc, m))
		}
	}
	return effs
}

// batchEffects are every post of one batch, on every target, in the order
// of the alerts. An incident created in the batch is announced once, in
// its final state; its later repeats are not news. Only the first
// target's card of a new incident is keyed: that is its home, where a
// room opens.
func (in *Intake) batchEffects(outs []incidents.Outcome, targets []incidents.Home, withRooms bool) []incidents.Effect {
	var effs []incidents.Effect
	for i, t := range targets {
		created := map[uint64]bool{}
		for _, out := range outs {
			if out.Incident == nil || out.Duplicate || created[out.Incident.Number] {
				continue
			}
			if out.Created {
				created[out.Incident.Number] = true
			}
			if !out.Created && i > 0 && !out.Incident.Mirror.IsZero() {
				// The room hears news once, from the first target's effects.
				out.Incident = withoutMirror(out.Incident)
			}
			more := in.alertEffects(out, t, withRooms && i == 0)
			if out.Created && i > 0 && len(more) > 0 {
				more[0].Key = ""
			}
			effs = append(effs, more...)
		}
	}
	return effs
}

// withoutMirror is a copy of inc that has no former home, so its news is
// said in one channel only.
func withoutMirror(inc *incidents.Incident) *incidents.Incident {
	c := *inc
	c.Mirror = incidents.Home{}
	return &c
}
