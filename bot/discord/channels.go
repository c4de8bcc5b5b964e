package discord

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/firebreak/firebreak/bot"
)

// channelTTL is how long a channel's name and parent are trusted; renames
// are rare and a stale name only delays matching alert channels by name.
const channelTTL = 10 * time.Minute

// maxCachedChannels bounds the cache; guilds have at most a few hundred
// channels, but every incident adds a thread.
const maxCachedChannels = 4096

// channelInfo is what events need to know about a channel: its name, and
// for a thread the channel it belongs to.
type channelInfo struct {
	ID       string
	Name     string
	GuildID  string
	ParentID string // set for threads
	Thread   bool
	at       time.Time
}

// channels remembers channel names and parents, looked up in the gateway
// state first and through REST when the state does not have them.
type channels struct {
	mu sync.Mutex
	m  map[string]channelInfo
}

func newChannels() *channels { return &channels{m: map[string]channelInfo{}} }

func (c *channels) get(id string) (channelInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci, ok := c.m[id]
	return ci, ok && time.Since(ci.at) < channelTTL
}

func (c *channels) put(ci channelInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedChannels {
		// Dropping everything is crude but keeps the bound without an LRU;
		// the next lookups refill from the gateway state.
		clear(c.m)
	}
	ci.at = time.Now()
	c.m[ci.ID] = ci
}

func infoOf(ch *discordgo.Channel) channelInfo {
	ci := channelInfo{ID: ch.ID, Name: ch.Name, GuildID: ch.GuildID}
	if ch.IsThread() {
		ci.Thread, ci.ParentID = true, ch.ParentID
	}
	return ci
}

// channel returns what is known about a channel id.
func (a *Adapter) channel(ctx context.Context, id string) (channelInfo, error) {
	if ci, ok := a.chans.get(id); ok {
		return ci, nil
	}
	if st := a.state(); st != nil {
		if ch, err := st.Channel(id); err == nil {
			ci := infoOf(ch)
			a.chans.put(ci)
			return ci, nil
		}
	}
	ch, err := a.rest().Channel(id, discordgo.WithContext(ctx))
	if err != nil {
		return channelInfo{ID: id}, fmt.Errorf("discord: looking up channel %s: %w", id, err)
	}
	ci := infoOf(ch)
	a.chans.put(ci)
	return ci, nil
}

// where places a channel id the way incidents see it: a thread is the
// thread of its parent channel. The name is the parent's, so a thread in
// #alerts still counts as #alerts.
func (a *Adapter) where(ctx context.Context, id string) (channel, thread, name string) {
	ci, err := a.channel(ctx, id)
	if err != nil {
		a.log.Warn("discord: channel unknown; alert channels listed by name will not match it", "channel", id, "error", err)
		return id, "", ""
	}
	if !ci.Thread || ci.ParentID == "" {
		return id, "", ci.Name
	}
	parent, err := a.channel(ctx, ci.ParentID)
	if err != nil {
		a.log.Warn("discord: thread's channel unknown", "thread", id, "channel", ci.ParentID, "error", err)
	}
	return ci.ParentID, id, parent.Name
}

// resolveChannel accepts a channel id, a <#id> mention, or a name such as
// "#incidents" from playbooks.yaml, and returns the id.
func (a *Adapter) resolveChannel(ctx context.Context, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "<#") && strings.HasSuffix(ref, ">") {
		ref = ref[2 : len(ref)-1]
	}
	if snowflake.MatchString(ref) {
		return ref, nil
	}
	name := strings.TrimPrefix(ref, "#")
	if name == "" {
		return "", fmt.Errorf("discord: empty channel name")
	}
	if st := a.state(); st != nil {
		st.RLock()
		for _, g := range st.Guilds {
			if a.cfg.GuildID != "" && g.ID != a.cfg.GuildID {
				continue
			}
			for _, ch := range g.Channels {
				if ch.Name == name && !ch.IsThread() {
					st.RUnlock()
					return ch.ID, nil
				}
			}
		}
		st.RUnlock()
	}
	if a.cfg.GuildID == "" {
		return "", fmt.Errorf("discord: no channel named #%s in the guilds Firebreak is in; use the channel id (Developer Mode → Copy Channel ID)", name)
	}
	chs, err := a.rest().GuildChannels(a.cfg.GuildID, discordgo.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("discord: looking up channel #%s in guild %s: %w", name, a.cfg.GuildID, err)
	}
	for _, ch := range chs {
		if ch.Name == name && !ch.IsThread() {
			a.chans.put(infoOf(ch))
			return ch.ID, nil
		}
	}
	return "", fmt.Errorf("discord: no channel named #%s in guild %s", name, a.cfg.GuildID)
}

// KnownChannelName is the name of a channel this adapter has seen,
// without asking Discord: the outbox keys one lane per channel by it
// (bot.ChannelNamer).
func (a *Adapter) KnownChannelName(id string) (string, bool) {
	ci, ok := a.chans.get(id)
	if !ok || ci.Name == "" {
		return "", false
	}
	return ci.Name, true
}

var _ bot.ChannelNamer = (*Adapter)(nil)
