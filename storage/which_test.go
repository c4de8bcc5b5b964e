package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

// TestWhichIncident checks the "which incident" rule of docs/commands.md
// on bbolt and on the in-memory store alike: two incidents open in the
// shared #alerts (one homed in an alert's thread), one resolved there, one
// in a channel of its own.
func TestWhichIncident(t *testing.T) {
	stores := map[string]func(t *testing.T) incidents.Store{
		"bbolt":  func(t *testing.T) incidents.Store { return open(t, filepath.Join(t.TempDir(), "f.db")) },
		"memory": func(*testing.T) incidents.Store { return incidentstest.NewMemStore() },
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			svc := service(t, mk(t))
			in := func(h incidents.Home) incidents.Origin { return incidents.Origin{Actor: alice, Home: h} }
			thread := incidents.Home{Platform: home.Platform, Channel: home.Channel, Thread: "1700000000.000100"}
			room := incidents.Home{Platform: home.Platform, Channel: "#inc-4"}

			_, err := svc.Declare(ctx, in(home), "resolved one", 0) // #1
			require.NoError(t, err)
			_, err = svc.Resolve(ctx, in(home), 1, "done")
			require.NoError(t, err)
			_, err = svc.Declare(ctx, in(home), "checkout", 0) // #2
			require.NoError(t, err)

			n, err := svc.Implied(ctx, home)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), n, "the one open incident, never the resolved #1")

			_, err = svc.Declare(ctx, in(thread), "disk full", 0) // #3, in an alert's thread
			require.NoError(t, err)
			_, err = svc.Declare(ctx, in(home), "own room", 0) // #4, moved to a room
			require.NoError(t, err)
			_, err = svc.MoveHome(ctx, in(home), 4, room, "inc-4")
			require.NoError(t, err)
			// #5 in a channel whose id starts with the shared one's: homes
			// are length-prefixed, so it is not in #alerts.
			_, err = svc.Declare(ctx, in(incidents.Home{Platform: home.Platform, Channel: home.Channel + "-eu"}), "eu only", 0)
			require.NoError(t, err)

			tests := []struct {
				name  string
				where incidents.Home
				want  uint64
				ask   []uint64
				none  bool
			}{
				// #4 moved to a room but was announced here: it counts, as
				// a Discord incident thread of #alerts does.
				{name: "shared channel with three open", where: home, ask: []uint64{4, 3, 2}},
				{name: "the alert's thread", where: thread, want: 3},
				{name: "a thread of no incident", where: incidents.Home{Platform: home.Platform, Channel: home.Channel, Thread: "other"}, ask: []uint64{3, 2}},
				{name: "the incident's own room", where: room, want: 4},
				{name: "another platform", where: incidents.Home{Platform: "slack", Channel: home.Channel}, none: true},
				{name: "a quiet channel", where: incidents.Home{Platform: home.Platform, Channel: "#random"}, none: true},
				{name: "a channel named like another", where: incidents.Home{Platform: home.Platform, Channel: home.Channel + "-eu"}, want: 5},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					n, err := svc.Implied(ctx, tc.where)
					switch {
					case tc.none:
						assert.ErrorIs(t, err, incidents.ErrNoIncident)
					case tc.ask != nil:
						var amb *incidents.AmbiguousError
						require.ErrorAs(t, err, &amb)
						var got []uint64
						for _, c := range amb.Open {
							got = append(got, c.Number)
						}
						assert.Equal(t, tc.ask, got)
					default:
						require.NoError(t, err)
						assert.Equal(t, tc.want, n)
					}
				})
			}

			// Resolving the thread's incident and the room's leaves one open in the channel;
			// the thread still means its own (resolved) incident.
			_, err = svc.Resolve(ctx, in(thread), 3, "freed space")
			require.NoError(t, err)
			_, err = svc.Resolve(ctx, in(room), 4, "fixed")
			require.NoError(t, err)
			n, err = svc.Implied(ctx, home)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), n)
			n, err = svc.Implied(ctx, thread)
			require.NoError(t, err)
			assert.Equal(t, uint64(3), n)
			n, err = svc.Implied(ctx, room)
			require.NoError(t, err)
			assert.Equal(t, uint64(4), n, "a room of its own keeps meaning its incident")
		})
	}
}
