package bot

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// TestCommandAndButtonSayTheSame runs each lifecycle intent once as a
// slash command and once as its button, each on a fresh incident at the
// same moment, and checks that both say the same thing in the channel and
// write the same timeline entry. The Resolve button changes nothing: it
// answers with the command to type, and typing it does what the command
// does.
func TestCommandAndButtonSayTheSame(t *testing.T) {
	tests := []struct {
		name    string
		command string
		button  string
		// typed is what the person types after the button answered
		// (only to them) instead of acting; "" when the button acts.
		answer, typed string
	}{
		{name: "acknowledge", command: "ack", button: ActionAck},
		{name: "mitigate", command: "mitigate", button: ActionMitigate},
		{name: "resolve", command: "#1 resolve rolled back", button: ActionResolve,
			answer: "To resolve **#1**, type `/incident #1 resolve <summary>`: what fixed it goes into the postmortem.",
			typed:  "#1 resolve rolled back"},
	}
	// said is what one route said publicly and the last timeline entry.
	type said struct {
		public []string
		entry  incidents.Entry
	}
	last := func(t *testing.T, f *fixture) incidents.Entry {
		t.Helper()
		var e incidents.Entry
		require.NoError(t, f.svc.Timeline(context.Background(), 1, func(x incidents.Entry) error { e = x; return nil }))
		e.Seq = 0 // the button route may have answered first; the entry is what matters
		return e
	}
	public := func(rec *recorder) []string {
		var out []string
		for _, m := range rec.all() {
			if !m.Ephemeral {
				out = append(out, m.Text)
			}
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byCommand := func() said {
				f := newFixture(t, time.Minute)
				f.open(t)
				f.clock.Advance(3 * time.Minute)
				rec := f.handle(t, f.event(KindCommand, tt.command))
				return said{public(rec), last(t, f)}
			}()
			byButton := func() said {
				f := newFixture(t, time.Minute)
				f.open(t)
				f.clock.Advance(3 * time.Minute)
				ev := f.event(KindAction, "")
				ev.ActionID, ev.Value, ev.Target = tt.button, "1", MessageRef{Channel: "C1", ID: "m-step1"}
				rec := f.handle(t, ev)
				if tt.answer != "" {
					msgs := rec.all()
					require.Len(t, msgs, 1)
					assert.True(t, msgs[0].Ephemeral, "the answer is only for the person who pressed")
					assert.Equal(t, tt.answer, msgs[0].Text)
					inc, err := f.svc.Get(context.Background(), 1)
					require.NoError(t, err)
					assert.True(t, inc.Status.Open(), "one click closes nothing")
					rec = f.handle(t, f.event(KindCommand, tt.typed))
				}
				return said{public(rec), last(t, f)}
			}()
			require.NotEmpty(t, byCommand.public)
			assert.Equal(t, byCommand.public, byButton.public, "one text per intent")
			assert.Equal(t, byCommand.entry, byButton.entry, "one timeline entry per intent")
			assert.NotEqual(t, incidents.EntryKind(""), byCommand.entry.Kind)
		})
	}
}
