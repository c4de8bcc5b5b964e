package bot

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// namedChat is a Chat whose adapter has seen some channels' names.
type namedChat struct {
	*fakeChat
	names map[string]string
}

func (c namedChat) KnownChannelName(id string) (string, bool) {
	name, ok := c.names[id]
	return name, ok
}

func TestLanes(t *testing.T) {
	books := &playbooks.Config{AlertChannels: []string{"#alerts"}}
	books.Incidents.Announce = map[string]string{"discord": "incidents"}
	chats := map[string]Chat{
		"slack":   namedChat{fakeChat: newFakeChat(), names: map[string]string{"C0ALERTS": "alerts", "C0OPS": "ops"}},
		"discord": namedChat{fakeChat: newFakeChat(), names: map[string]string{"111": "incidents"}},
		"console": newFakeChat(),
	}
	post := func(platform, channel string) incidents.Effect {
		return incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: platform, Channel: channel}}
	}
	tests := []struct {
		name string
		e    incidents.Effect
		want string
	}{
		{"a webhook's card, named as configured", post("slack", "#alerts"), "slack/#alerts"},
		{"news of a command typed there, by the channel's id", post("slack", "C0ALERTS"), "slack/#alerts"},
		{"the same channel spelled without # or in capitals", post("slack", "ALERTS"), "slack/#alerts"},
		{"an edit of a pressed card there", incidents.Effect{Kind: incidents.EffectUpdate, Home: incidents.Home{Platform: "slack", Channel: "C0ALERTS"}}, "slack/#alerts"},
		{"a channel playbooks.yaml does not list keeps its id", post("slack", "C0OPS"), "slack/C0OPS"},
		{"a channel the adapter has not seen keeps its id", post("slack", "C0NEW"), "slack/C0NEW"},
		{"Discord's announce channel by id", post("discord", "111"), "discord/incidents"},
		{"a chat that knows no names", post("console", "C0ALERTS"), "console/C0ALERTS"},
		{"a page keeps its notifier's lane", incidents.Effect{Kind: incidents.EffectNotify, Notifier: "pager"}, "notify/pager"},
	}
	lane := Lanes(chats, books)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, lane(tt.e))
		})
	}
}
