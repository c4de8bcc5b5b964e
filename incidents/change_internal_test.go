package incidents

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// numberingTx numbers appended entries and refuses the ones whose text is
// "refused"; what else a Tx does is not called here.
type numberingTx struct {
	Tx
	seq      uint64
	appended []Entry
}

func (tx *numberingTx) AppendEntry(e *Entry) error {
	if e.Text == "refused" {
		return errors.New("disk full")
	}
	tx.seq++
	e.Seq = tx.seq
	tx.appended = append(tx.appended, *e)
	return nil
}

// change.add gives the store the outcome's copy of an entry: the outcome
// must hold exactly the entries the store took, numbered as the store
// numbered them, whether the first lands in the batch's shared buffer or
// not.
func TestChangeAddKeepsTheOutcomeAndTheStoreAgreed(t *testing.T) {
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		withBuf bool
		texts   []string
		want    []string
	}{
		{name: "one entry in the buffer", withBuf: true, texts: []string{"a"}, want: []string{"a"}},
		{name: "two entries, the first in the buffer", withBuf: true, texts: []string{"a", "b"}, want: []string{"a", "b"}},
		{name: "refused first entry in the buffer", withBuf: true, texts: []string{"refused", "a"}, want: []string{"a"}},
		{name: "refused second entry", withBuf: true, texts: []string{"a", "refused", "b"}, want: []string{"a", "b"}},
		{name: "no buffer", texts: []string{"a", "refused", "b"}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &numberingTx{}
			inc := &Incident{Number: 7}
			var out Outcome
			c := change{tx: tx, inc: inc, now: now, out: &out}
			var buf []Entry
			if tt.withBuf {
				buf = make([]Entry, 0, 4)
				buf = append(buf, Entry{Text: "another outcome's"})
				c.buf = &buf
			}
			for _, text := range tt.texts {
				err := c.add(Entry{Kind: EntryNote, Text: text})
				if text == "refused" {
					require.Error(t, err)
					continue
				}
				require.NoError(t, err)
			}
			require.Len(t, out.Entries, len(tt.want))
			for i, e := range out.Entries {
				assert.Equal(t, tt.want[i], e.Text)
				assert.Equal(t, uint64(i+1), e.Seq, "numbered by the store")
				assert.Equal(t, uint64(7), e.Incident)
				assert.Equal(t, now, e.At)
				assert.Equal(t, Bot, e.Actor)
			}
			assert.Equal(t, tx.appended, out.Entries, "what the store took")
			assert.Equal(t, uint64(len(tt.want)), inc.Entries)
			if tt.withBuf {
				assert.Equal(t, "another outcome's", buf[0].Text, "the buffer's other slots are left alone")
				assert.Len(t, buf, 2, "one slot for this outcome's first entry")
			}
		})
	}
}
