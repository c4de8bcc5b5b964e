package alerttext

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

var update = flag.Bool("update", false, "rewrite the expected parses in testdata/corpus")

// expected is the parse a corpus sample must give; NAME.json next to
// NAME.txt. Samples named not_* must not be alerts.
type expected struct {
	Alert    bool              `json:"alert"`
	Status   string            `json:"status,omitempty"`
	Name     string            `json:"name,omitempty"`
	Title    string            `json:"title,omitempty"`
	Service  string            `json:"service,omitempty"`
	Severity string            `json:"severity,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

func toExpected(a incidents.Alert, ok bool) expected {
	if !ok {
		return expected{}
	}
	e := expected{Alert: true, Status: string(a.Status), Name: a.Name, Title: a.Title, Service: a.Service, Labels: a.Labels}
	if a.Severity != incidents.SevUnknown {
		e.Severity = a.Severity.String()
	}
	return e
}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.txt"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 25)
	alerts, chatter := 0, 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(f)
			require.NoError(t, err)
			got := toExpected(Parse(string(text)))
			jsonPath := strings.TrimSuffix(f, ".txt") + ".json"
			if *update {
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(jsonPath, append(b, '\n'), 0o644))
			}
			b, err := os.ReadFile(jsonPath)
			require.NoError(t, err)
			var want expected
			require.NoError(t, json.Unmarshal(b, &want))
			assert.Equal(t, want, got)
			if strings.HasPrefix(name, "not_") {
				assert.False(t, got.Alert, "ordinary chat must not be an alert")
				chatter++
			} else {
				assert.True(t, got.Alert)
				assert.NotEmpty(t, got.Title)
				alerts++
			}
		})
	}
	assert.GreaterOrEqual(t, chatter, 6)
}

func TestConsoleExample(t *testing.T) {
	a, ok := Parse("[FIRING:1] HighErrorRate api-gateway (severity=critical) 5xx rate 17%")
	require.True(t, ok)
	assert.Equal(t, "HighErrorRate", a.Name)
	assert.Equal(t, "api-gateway", a.Service)
	assert.Equal(t, incidents.SEV1, a.Severity)
	assert.Equal(t, incidents.AlertFiring, a.Status)
	assert.Equal(t, "HighErrorRate api-gateway 5xx rate 17%", a.Title)
	assert.Equal(t, "chat", a.Source)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.txt"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(string(b))
	}
	f.Add(strings.Repeat("[FIRING:1] (", 5000))
	f.Fuzz(func(t *testing.T, text string) {
		start := time.Now()
		a, ok := Parse(text)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("parse took %s on %d bytes", d, len(text))
		}
		if ok && a.Title == "" {
			t.Fatal("an alert without a title")
		}
		if len([]rune(a.Title)) > incidents.MaxTitleLen {
			t.Fatalf("title of %d runes", len([]rune(a.Title)))
		}
	})
}
