package bot

import (
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/playbooks"
)

// ChannelNamer is a Chat that knows the names of the channels it has seen,
// without asking its platform (the outbox calls it for every effect it
// reads, so it must not block).
type ChannelNamer interface {
	KnownChannelName(id string) (name string, ok bool)
}

// Lanes is the outbox's lane key for effects on chats: one lane per
// channel, however an effect names it. Webhooks and probes announce in a
// channel as playbooks.yaml spells it ("#alerts"), while what people type
// there is answered in it by the platform's id ("C0ALERTS"); keyed as
// written, the two would be two lanes, paced apart (up to twice the
// platform's per-channel rate) and unordered between them. A channel id
// whose name the adapter knows and playbooks.yaml lists (an alert or
// announce channel) is keyed by playbooks.yaml's spelling. Effects that
// are not chat posts keep incidents.Effect.Channel.
func Lanes(chats map[string]Chat, books *playbooks.Config) func(incidents.Effect) string {
	return func(e incidents.Effect) string {
		switch e.Kind {
		case incidents.EffectPost, incidents.EffectUpdate, incidents.EffectUpload:
		default:
			return e.Channel()
		}
		if books == nil {
			return e.Channel()
		}
		platform, ch := e.Home.Platform, e.Home.Channel
		if spelled, ok := books.ChannelSpelling(platform, ch); ok {
			return platform + "/" + spelled
		}
		if namer, ok := chats[platform].(ChannelNamer); ok {
			if name, ok := namer.KnownChannelName(ch); ok {
				if spelled, ok := books.ChannelSpelling(platform, name); ok {
					return platform + "/" + spelled
				}
			}
		}
		return e.Channel()
	}
}
