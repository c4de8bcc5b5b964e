package cards_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/cards"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// The card links the incident's web page only when a public URL is set.
func TestCardLinksWebPage(t *testing.T) {
	inc := &incidents.Incident{Number: 7, Title: "HighErrorRate", Status: incidents.StatusTriggered, OpenedAt: time.Now()}
	link := func(n uint64) string { return "https://fb.example.com/web/incidents/" + strconv.FormatUint(n, 10) }
	tests := []struct {
		name string
		url  func(uint64) string
		want string
	}{
		{"public URL set", link, "[#7 on the web](https://fb.example.com/web/incidents/7)"},
		{"no public URL", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cards.Renderer{Platform: "slack", Books: playbooks.Default(), Now: time.Now(), URL: tt.url}
			got := ""
			for _, f := range r.Card(inc, false).Fields {
				if f.Label == "Web" {
					got = f.Value
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
