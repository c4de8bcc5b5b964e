package incidents

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrAmbiguous is returned (inside an *AmbiguousError) when a command names
// no incident and several are open where it was typed.
var ErrAmbiguous = errors.New("several incidents are open here")

// maxCandidates bounds the open incidents an ambiguous command lists.
const maxCandidates = 10

// maxReadBack bounds how many of a channel's newest incidents a reading
// command looks through for the one resolved last.
const maxReadBack = 20

// Candidate is one open incident a command could have meant.
type Candidate struct {
	Number   uint64
	Title    string
	Severity Severity
	Status   Status
}

// AmbiguousError lists the open incidents of a channel when a bare command
// could mean any of them; the chat layer asks which one instead of
// guessing. Open is newest first and holds at most ten; More counts the
// rest.
type AmbiguousError struct {
	Open []Candidate
	More int
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	b.WriteString("several incidents are open in this channel (")
	b.WriteString(e.Candidates())
	b.WriteString("); name one with #<number>")
	return b.String()
}

// Candidates names the open incidents: "#3 DiskFull db-1, #2 HighErrorRate
// api" (and how many more), for the error and for the question chat asks.
func (e *AmbiguousError) Candidates() string {
	var b strings.Builder
	for i, c := range e.Open {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "#%d %s", c.Number, c.Title)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, " and %d more", e.More)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrAmbiguous) hold.
func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// Implied resolves the incident a command means when it names none. The
// rule is the same on every platform (docs/commands.md):
//
//  1. Typed in a thread that is an incident's home: that incident, open or
//     resolved (it is the incident's own conversation).
//  2. Typed in a channel that is an incident's own room (it was moved
//     there): that incident, open or resolved.
//  3. Otherwise the channel is shared: the one open incident homed in the
//     channel or in any of its threads. With several open it returns an
//     *AmbiguousError listing them; with none, ErrNoIncident. A resolved
//     incident is never picked here: it must be named with #<number>.
//
// aliases are other spellings of h's channel: incidents opened by a
// webhook or probe are homed in the channel as playbooks.yaml names it
// ("#alerts"), while a command typed there carries the platform's id
// ("C0ALERTS"); both spellings are one channel.
func (s *Service) Implied(ctx context.Context, h Home, aliases ...string) (uint64, error) {
	return s.implied(ctx, h, aliases, false)
}

// ImpliedToRead is Implied for commands that only read an incident or
// write up a resolved one (status, timeline, a postmortem draft): where a
// shared channel has no open incident, it means the one resolved last
// there (among its 20 newest), so "/incident postmortem" right after
// "/incident resolve" means what was just resolved. Changes of state
// (postmortem review and final among them) never use it.
func (s *Service) ImpliedToRead(ctx context.Context, h Home, aliases ...string) (uint64, error) {
	return s.implied(ctx, h, aliases, true)
}

// errStop ends a streaming read early.
var errStop = errors.New("stop")

func (s *Service) implied(ctx context.Context, h Home, aliases []string, reading bool) (uint64, error) {
	channels := []string{h.Channel}
	for _, a := range aliases {
		if a != "" && !slices.Contains(channels, a) {
			channels = append(channels, a)
		}
	}
	var n uint64
	err := s.store.View(ctx, func(tx ReadTx) error {
		if h.Thread != "" {
			num, ok, err := tx.LatestInHome(h)
			if err != nil {
				return fmt.Errorf("find the incident of thread %s: %w", h.Thread, err)
			}
			if ok {
				n = num
				return nil
			}
		}
		open := map[uint64]bool{}
		for _, ch := range channels {
			num, ok, err := tx.LatestInHome(Home{Platform: h.Platform, Channel: ch})
			if err != nil {
				return fmt.Errorf("find the incident of channel %s: %w", ch, err)
			}
			if ok {
				inc, err := loadIncident(tx, num)
				if err != nil {
					return err
				}
				if inc.OwnsHome() {
					n = num
					return nil
				}
			}
			err = tx.InChannel(h.Platform, ch, true, func(num uint64) error {
				open[num] = true
				return nil
			})
			if err != nil {
				return fmt.Errorf("find the open incidents of channel %s: %w", ch, err)
			}
		}
		// An incident moved to a channel of its own (Slack's
		// channel_per_incident) is still announced here, its alert and the
		// alert's thread with it: it is open in this channel too, as it is
		// on Discord, where its room is a thread of this channel. In its
		// alert's thread it is that thread's incident.
		var moved uint64
		err := tx.Incidents(true, 0, func(inc *Incident) error {
			if !inc.OwnsHome() || inc.Mirror.Platform != h.Platform || !slices.Contains(channels, inc.Mirror.Channel) {
				return nil
			}
			switch {
			case h.Thread == "":
				open[inc.Number] = true
			case inc.Mirror.Thread == h.Thread:
				moved = inc.Number
				return errStop
			}
			// Typed in some other thread: that may be the alert thread of
			// a resolved incident, so only incidents homed here count.
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("find the incidents announced in channel %s: %w", h.Channel, err)
		}
		if moved != 0 {
			n = moved
			return nil
		}
		nums := slices.Sorted(maps.Keys(open))
		slices.Reverse(nums) // newest first
		amb := &AmbiguousError{}
		var first uint64
		for _, num := range nums {
			if first == 0 {
				first = num
			}
			if len(amb.Open) == maxCandidates {
				amb.More++
				continue
			}
			inc, err := loadIncident(tx, num)
			if err != nil {
				return err
			}
			amb.Open = append(amb.Open, Candidate{Number: num, Title: inc.Title, Severity: inc.Severity, Status: inc.Status})
		}
		switch {
		case len(amb.Open) == 1:
			n = first
			return nil
		case len(amb.Open) > 1:
			return amb
		case reading:
			// The one resolved last, not the one opened last: after
			// resolving #1 while #2 (opened later) was resolved before,
			// "/incident timeline" means #1.
			var last *Incident
			for _, ch := range channels {
				seen := 0
				err := tx.InChannel(h.Platform, ch, false, func(num uint64) error {
					inc, err := loadIncident(tx, num)
					if err != nil {
						return err
					}
					if last == nil || inc.ResolvedAt.After(last.ResolvedAt) {
						last = inc
					}
					if seen++; seen == maxReadBack {
						return errStop
					}
					return nil
				})
				if err != nil && !errors.Is(err, errStop) {
					return fmt.Errorf("find the incidents of channel %s: %w", ch, err)
				}
			}
			if last != nil {
				n = last.Number
				return nil
			}
		}
		return Refuse(ErrNoIncident, TextNoOpenIncident)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// OwnsHome reports whether the incident's home is a channel or thread of
// its own (it was moved there from where it was announced), rather than a
// channel it shares with other incidents.
func (inc *Incident) OwnsHome() bool {
	return !inc.Mirror.IsZero() && inc.Mirror != inc.Home
}
