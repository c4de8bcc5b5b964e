package storage

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// Every string comes back exactly as it went in, whichever form it was
// written in.
func TestWordsRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		strs    []string
		maxSize int // bytes written, 0: not checked
	}{
		{"empty", []string{"", "", ""}, 3},
		{"words", []string{"alert", "fingerprint", "alertmanager", "SEV3", "page"}, 6},
		{"references", []string{"checkout pod crash-looping", "x", "checkout pod crash-looping", "checkout pod crash-looping"}, 1 + 26 + 2 + 1 + 1},
		{"short strings are not referred to", []string{"ab", "ab"}, 6},
		{"times", []string{"2026-12-04T12:00:00Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}, 0},
		{"not quite times", []string{"2026-12-04T12:00:00.5Z", "2026-12-04T12:00:00+01:00", "2026-13-04T12:00:00Z", "2026-12-04t12:00:00Z", "2026-12-04T12:00:60Z"}, 0},
		{"long literal", []string{string(make([]byte, 5000)), "tail"}, 0},
		{"not a word by case", []string{"Alert", "ALERTMANAGER", "sev3"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w wordWriter
			for _, s := range tt.strs {
				w.str(s)
			}
			if tt.maxSize > 0 {
				assert.LessOrEqual(t, len(w.b), tt.maxSize)
			}
			r := entryReader{b: w.b, words: true}
			for _, want := range tt.strs {
				assert.Equal(t, want, r.str())
			}
			require.NoError(t, r.err)
			assert.Empty(t, r.b)
		})
	}
}

// More strings than a record remembers: later repeats are literals, and
// still read back.
func TestWordsBeyondMaxRefs(t *testing.T) {
	var w wordWriter
	var strs []string
	for i := range 2 * maxRefs {
		strs = append(strs, string(rune('a'+i%26))+time.Duration(i).String())
	}
	strs = append(strs, strs...)
	for _, s := range strs {
		w.str(s)
	}
	r := entryReader{b: w.b, words: true}
	for _, want := range strs {
		assert.Equal(t, want, r.str())
	}
	require.NoError(t, r.err)
}

func TestDamagedWords(t *testing.T) {
	for _, b := range [][]byte{
		binary.AppendUvarint(nil, uint64(len(words))<<2|tagWord), // an unknown word
		{0<<2 | tagRef}, // a reference to nothing
		{tagTime},       // a time without its seconds
		{10 << 2},       // a literal longer than the rest
	} {
		r := entryReader{b: b, words: true}
		r.str()
		assert.Error(t, r.err, "%x", b)
	}
}

// A timeline entry of a new alert in a storm: what a commit writes for it.
func TestAlertEntryIsSmall(t *testing.T) {
	e := incidents.Entry{At: time.Unix(1764849600, 0), Kind: incidents.EntryAlert,
		Actor: incidents.Actor{Platform: "webhook", ID: "alertmanager", Name: "alertmanager"},
		Text:  "checkout pod crash-looping",
		Data: map[string]string{"annotation.summary": "checkout pod crash-looping", "fingerprint": "00000000000004b3",
			"group": `group:alertname="PodCrashLooping",service="checkout"`, "name": "PodCrashLooping", "service": "checkout",
			"severity": "SEV3", "source": "alertmanager", "starts_at": "2026-12-04T12:00:00Z", "url": "http://127.0.0.1/graph"}}
	v := encodeEntry(&e)
	assert.LessOrEqual(t, len(v), 180, "schema 4 wrote 343 bytes")
	var got incidents.Entry
	require.NoError(t, decodeEntry(v, &got))
	assert.True(t, e.At.Equal(got.At))
	got.At = e.At
	assert.Equal(t, e, got)
}

// FuzzDecodeEntry: a damaged timeline entry is an error, never a panic,
// and whatever decodes encodes back to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(&incidents.Entry{Kind: incidents.EntryAlert, Text: "disk full", Data: map[string]string{"summary": "disk full", "starts_at": "2026-12-04T12:00:00Z"}}))
	f.Add([]byte{entryVersion1, 0, 5, 'a', 'l', 'e', 'r', 't', 0, 0, 0, 0, 0, 0})
	f.Add([]byte{entryVersion, 0, 1, 2, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		var e incidents.Entry
		if err := decodeEntry(v, &e); err != nil {
			require.ErrorIs(t, err, errDamaged)
			return
		}
		var again incidents.Entry
		require.NoError(t, decodeEntry(encodeEntry(&e), &again))
		assert.Equal(t, e, again)
	})
}

// Every word of the dictionary is written as a word: the quick check that
// skips hashing most strings never rules one out.
func TestEveryWordIsWrittenAsAWord(t *testing.T) {
	for i, word := range words {
		require.True(t, mayBeWord(word), word)
		var w wordWriter
		w.str(word)
		tag, n := binary.Uvarint(w.b)
		require.Equal(t, len(w.b), n, word)
		assert.Equal(t, uint64(i)<<2|tagWord, tag, word)
	}
	// Strings of a word's first byte and length that are not words are
	// still literals.
	for _, s := range []string{"alerx", "fingerprinT", "x", "0123456789abcdef", "SEV5", "sev1", "pendinG", "triggereD", "alert_repeaT"} {
		var w wordWriter
		w.str(s)
		assert.Equal(t, uint64(len(s))<<2|tagLiteral, uint64(w.b[0]), s)
	}
}
