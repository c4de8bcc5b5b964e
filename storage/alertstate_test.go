package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// A repeat of a folded logged alert writes its version 2 record directly;
// the fold makes the same record from the version 1 one. Both must be the
// same bytes, and read back as the counters with the content's seq.
func TestAlertStateVersionsAgree(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	for _, a := range []incidents.AlertState{
		{Fingerprint: "fp", Firing: true, Count: 3, FirstSeen: at, LastSeen: at.Add(time.Minute)},
		{Fingerprint: "fp", Count: 1 << 20, FirstSeen: at, LastSeen: at, ResolvedAt: at.Add(time.Hour)},
	} {
		for _, seq := range []uint64{1, 300, 1 << 40} {
			folded, err := loggedStateAt(encodeAlertState(&a), seq)
			require.NoError(t, err)
			assert.Equal(t, folded, encodeAlertStateAt(&a, seq))
			ref, body, err := stateRef(folded)
			require.NoError(t, err)
			assert.Equal(t, seq, ref)
			assert.Equal(t, encodeAlertState(&a)[1:], body)
		}
	}
}
