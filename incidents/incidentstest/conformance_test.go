package incidentstest_test

import (
	"testing"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/incidents/incidentstest"
	"github.com/firebreak/firebreak/incidents/storetest"
)

// The in-memory store other packages test with keeps the same guarantees
// as the real ones.
func TestMemStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) incidents.Store { return incidentstest.NewMemStore() })
}
