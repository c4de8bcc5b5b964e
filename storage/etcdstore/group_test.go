package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage/etcdstore"
	"github.com/firebreak/firebreak/storage/etcdstore/etcdtest"
)

// Concurrent Updates of one replica are committed in groups (one snapshot,
// one Txn for many intents), and a group behaves as its Updates one after
// the other: an Update whose fn fails after writing leaves nothing (not
// even an incident number), Updates too large to share a Txn wait for the
// next group, one too large for any Txn is committed alone in phases, and
// every other Update commits with all its writes.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	cli := c.Client(t)
	kv := &countingKV{KV: cli.KV}
	cli.KV = kv
	s := etcdstore.New(cli, etcdstore.Config{Prefix: "group/", MaxTxnOps: 128})
	boom := errors.New("boom")

	type kind int
	const (
		small   kind = iota // an incident, a seen id, one entry
		failing             // the same, then an error
		wide                // an incident and 50 entries: two do not fit one Txn
		huge                // an incident and 300 entries: no Txn holds it
	)
	kinds := make([]kind, 64)
	for i := range kinds {
		switch {
		case i%8 == 3:
			kinds[i] = failing
		case i%16 == 5:
			kinds[i] = wide
		case i == 9:
			kinds[i] = huge
		}
	}
	entriesOf := map[kind]int{small: 1, failing: 1, wide: 50, huge: 300}
	start := make(chan struct{})
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() {
			<-start
			errs[i] = s.Update(ctx, func(tx incidents.Tx) error {
				inc := &incidents.Incident{Title: fmt.Sprintf("w%d", i), Status: incidents.StatusTriggered}
				if err := tx.CreateIncident(inc); err != nil {
					return err
				}
				if _, err := tx.MarkSeen(fmt.Sprintf("w%d", i), t0); err != nil {
					return err
				}
				for j := range entriesOf[k] {
					if err := tx.AppendEntry(&incidents.Entry{Incident: inc.Number, Kind: incidents.EntryNote, Text: fmt.Sprintf("w%d/%d", i, j)}); err != nil {
						return err
					}
				}
				if k == failing {
					return boom
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()

	want := map[string]int{} // title → entries
	for i, k := range kinds {
		if k == failing {
			assert.ErrorIs(t, errs[i], boom, "w%d", i)
			continue
		}
		require.NoError(t, errs[i], "w%d", i)
		want[fmt.Sprintf("w%d", i)] = entriesOf[k]
	}
	got := map[string]int{}
	var numbers []uint64
	require.NoError(t, s.View(ctx, func(tx incidents.ReadTx) error {
		return tx.Incidents(false, 0, func(inc *incidents.Incident) error {
			numbers = append(numbers, inc.Number)
			n := 0
			if err := tx.Entries(inc.Number, 0, func(e incidents.Entry) error {
				assert.Equal(t, fmt.Sprintf("%s/%d", inc.Title, n), e.Text, "entries of %s in order, only its own", inc.Title)
				n++
				return nil
			}); err != nil {
				return err
			}
			got[inc.Title] = n
			return nil
		})
	}))
	assert.Equal(t, want, got, "every Update that returned nil is stored whole, no failed one")
	for i, n := range numbers {
		assert.Equal(t, uint64(len(numbers)-i), n, "incident numbers are dense: a failed Update took none")
	}
	err := s.Update(ctx, func(tx incidents.Tx) error {
		for i, k := range kinds {
			seen, err := tx.MarkSeen(fmt.Sprintf("w%d", i), t0)
			if err != nil {
				return err
			}
			assert.Equal(t, k != failing, seen, "w%d's event id is recorded only if it committed", i)
		}
		return boom // mark nothing
	})
	require.ErrorIs(t, err, boom)
	// Grouped: fewer Txns (snapshot reads, commits, the huge one's phases)
	// than two per Update, which committing one by one would take.
	txns := kv.txns.Load()
	t.Logf("%d Updates, %d Txns", len(kinds), txns)
	assert.Less(t, txns, int64(2*len(kinds)), "concurrent Updates share snapshots and commits")
}
