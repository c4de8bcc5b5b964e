package outbox_test

import (
	"testing"

	"github.com/firebreak/firebreak/bot/outbox/outboxtest"
	"github.com/firebreak/firebreak/incidents/incidentstest"
)

// TestMemStoreSuite runs the outbox store guarantees shared by every store
// on the in-memory store the bot's tests deliver from.
func TestMemStoreSuite(t *testing.T) {
	outboxtest.RunStoreSuite(t, func(t *testing.T) outboxtest.Subject {
		m := incidentstest.NewMemStore()
		return outboxtest.Subject{Outbox: m, Update: m.Update}
	})
}
