package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/incidents"
)

var home = incidents.Home{Platform: "slack", Channel: "C-INC"}

func effect(id uint64, text string) incidents.Effect {
	return incidents.Effect{ID: id, Incident: 7, Kind: incidents.EffectPost, Home: home, Message: incidents.EffectMessage{Text: text}}
}

type newest map[string]uint64

func (n newest) Newest(key string) (uint64, bool) { id, ok := n[key]; return id, ok }

func TestCoalesceStage(t *testing.T) {
	pending := newest{"still-firing/7": 12, "card/7": 5}
	cases := []struct {
		name      string
		id        uint64
		key       string
		coalesced bool
	}{
		{"no key is never coalesced", 3, "", false},
		{"an older repeat is skipped", 10, "still-firing/7", true},
		{"the newest is sent", 12, "still-firing/7", false},
		{"a key with nothing newer is sent", 5, "card/7", false},
		{"a key nobody else has is sent", 4, "other", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := effect(tc.id, "x")
			e.CoalesceKey = tc.key
			d := &outbox.Delivery{Effect: e}
			_, err := (&outbox.CoalesceStage{Pending: pending, Clock: newFakeClock()}).Exec(context.Background(), d)
			require.NoError(t, err)
			assert.Equal(t, tc.coalesced, d.Settled())
			if tc.coalesced {
				assert.Equal(t, incidents.EffectCoalesced, d.Result.Status)
				assert.Contains(t, d.Result.Reason, "superseded by effect 12")
			}
		})
	}
}

// TestRateLimitStageUnderAStorm sends a storm into three channels at once
// and checks that no channel hears more than Burst messages back to back
// and one per Interval after that, while the channels do not wait for
// each other.
func TestRateLimitStageUnderAStorm(t *testing.T) {
	const perChannel = 50
	channels := []string{"C1", "C2", "C3"}
	cases := []struct {
		name  string
		limit outbox.RateLimit
	}{
		{"default: one per second", outbox.RateLimit{}},
		{"burst of three", outbox.RateLimit{Burst: 3}},
		{"two per second", outbox.RateLimit{Interval: 500 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.Now()
			stage := &outbox.RateLimitStage{Limit: tc.limit, Clock: clock}
			sent := map[string][]time.Time{}
			for i := range perChannel {
				for _, ch := range channels {
					e := effect(uint64(i), "storm")
					e.Home.Channel = ch
					_, err := stage.Exec(context.Background(), &outbox.Delivery{Effect: e})
					require.NoError(t, err)
					sent[ch] = append(sent[ch], clock.Now())
				}
			}
			interval, burst := tc.limit.Interval, max(tc.limit.Burst, 1)
			if interval == 0 {
				interval = outbox.DefaultInterval
			}
			for _, ch := range channels {
				times := sent[ch]
				require.Len(t, times, perChannel, "a storm never drops a message")
				// Once the burst is spent, a storm gets one message per interval.
				for i := burst; i < len(times); i++ {
					assert.GreaterOrEqual(t, times[i].Sub(times[i-1]), interval,
						"channel %s: messages %d and %d closer than the limit", ch, i-1, i)
				}
				// Any window of one interval holds at most `burst` messages.
				for i := range times {
					n := 0
					for _, u := range times[i:] {
						if u.Sub(times[i]) < interval {
							n++
						}
					}
					assert.LessOrEqual(t, n, burst, "channel %s: %d messages within %s", ch, n, interval)
				}
			}
			// The channels were served side by side: the storm took as long
			// as one channel's share, not three.
			want := time.Duration(perChannel-burst) * interval
			assert.Equal(t, want, clock.Now().Sub(start))
		})
	}
}

func TestRateLimitStageStopsWaitingWhenCancelled(t *testing.T) {
	stage := &outbox.RateLimitStage{Clock: newFakeClock()}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := stage.Exec(ctx, &outbox.Delivery{Effect: effect(1, "a")})
	require.NoError(t, err)
	cancel()
	_, err = stage.Exec(ctx, &outbox.Delivery{Effect: effect(2, "b")})
	assert.ErrorIs(t, err, context.Canceled)
}

// refs is a RefLookup over a map.
type refs map[string]incidents.EffectRef

func (r refs) Ref(_ context.Context, key string) (incidents.EffectRef, bool, error) {
	ref, ok := r[key]
	return ref, ok, nil
}

func TestRetryStage(t *testing.T) {
	policy := outbox.RetryPolicy{MaxAttempts: 4, InitialInterval: time.Second, MaxInterval: 8 * time.Second, MaxElapsed: 10 * time.Minute}
	cases := []struct {
		name     string
		script   []error
		status   incidents.EffectStatus
		attempts int
		reason   string
		// check looks at the waits between attempts.
		check func(t *testing.T, sleeps []time.Duration)
	}{
		{"delivered at once", nil, incidents.EffectDelivered, 1, "", func(t *testing.T, s []time.Duration) { assert.Empty(t, s) }},
		{"429 waits what Retry-After says", []error{rateLimited{7 * time.Second}, rateLimited{3 * time.Second}},
			incidents.EffectDelivered, 3, "", func(t *testing.T, s []time.Duration) {
				assert.Equal(t, []time.Duration{7 * time.Second, 3 * time.Second}, s)
			}},
		{"5xx backs off with jitter", []error{statusError(502), statusError(503), statusError(500)},
			incidents.EffectDelivered, 4, "", func(t *testing.T, s []time.Duration) {
				require.Len(t, s, 3)
				// ExponentialBackOff: 1s, 1.5s, 2.25s, each randomised by ±50%.
				for i, base := range []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond} {
					assert.InDelta(t, base, s[i], float64(base)/2+1, "wait %d", i)
				}
			}},
		{"network errors are retried", []error{&net.OpError{Op: "dial", Err: errors.New("connection refused")}},
			incidents.EffectDelivered, 2, "", nil},
		{"a 4xx is final", []error{statusError(404)}, incidents.EffectGaveUp, 1, "refused: post to slack C-INC: HTTP 404", func(t *testing.T, s []time.Duration) { assert.Empty(t, s) }},
		{"Retryable false is final", []error{retryable(false)}, incidents.EffectGaveUp, 1, "refused", nil},
		{"gives up after the bound", []error{statusError(503), statusError(503), statusError(503), statusError(503), statusError(503)},
			incidents.EffectGaveUp, 4, "gave up after 4 failed attempts: post to slack C-INC: HTTP 503", func(t *testing.T, s []time.Duration) { assert.Len(t, s, 3) }},
		{"rate limits do not count as failures", []error{rateLimited{time.Second}, rateLimited{time.Second}, rateLimited{time.Second}, rateLimited{time.Second}, statusError(503)},
			incidents.EffectDelivered, 6, "", nil},
		{"gives up when Retry-After outlasts MaxElapsed", []error{rateLimited{time.Hour}}, incidents.EffectGaveUp, 1, "gave up after 0s and 1 attempts", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chat := newFakeChat()
			chat.script = tc.script
			clock := newFakeClock()
			stage := &outbox.RetryStage{Sender: &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": chat}, Refs: refs{}}, Policy: policy, Clock: clock}
			d := &outbox.Delivery{Effect: effect(1, "hello")}
			_, err := stage.Exec(context.Background(), d)
			require.NoError(t, err)
			assert.Equal(t, tc.status, d.Result.Status)
			assert.Equal(t, tc.attempts, d.Result.Attempts)
			if tc.reason != "" {
				assert.Contains(t, d.Result.Reason, tc.reason)
			}
			if tc.status == incidents.EffectDelivered {
				require.Len(t, chat.Calls(), 1)
				assert.Equal(t, incidents.EffectRef{Channel: "C-INC", ID: "1"}, d.Result.Ref)
			} else {
				assert.Empty(t, chat.Calls())
			}
			if tc.check != nil {
				tc.check(t, clock.Sleeps())
			}
		})
	}
}

type retryable bool

func (r retryable) Error() string   { return fmt.Sprintf("retryable=%v", bool(r)) }
func (r retryable) Retryable() bool { return bool(r) }

// hangingSender never answers within its attempt's deadline the first time.
type hangingSender struct{ calls int }

func (h *hangingSender) Send(ctx context.Context, _ incidents.Effect) (incidents.EffectRef, bool, time.Duration, error) {
	h.calls++
	if h.calls == 1 {
		<-ctx.Done()
		return incidents.EffectRef{}, false, 0, ctx.Err()
	}
	return incidents.EffectRef{ID: "ok"}, false, 0, nil
}

func TestRetryStageTimesOutHungAttempts(t *testing.T) {
	s := &hangingSender{}
	stage := &outbox.RetryStage{Sender: s, Policy: outbox.RetryPolicy{AttemptTimeout: 20 * time.Millisecond}, Clock: newFakeClock()}
	d := &outbox.Delivery{Effect: effect(1, "x")}
	_, err := stage.Exec(context.Background(), d)
	require.NoError(t, err)
	assert.Equal(t, incidents.EffectDelivered, d.Result.Status)
	assert.Equal(t, 2, d.Result.Attempts)
}

func TestRetryStageLeavesTheEffectPendingWhenStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	chat := newFakeChat()
	chat.script = []error{statusError(503)}
	stage := &outbox.RetryStage{Sender: &outbox.ChatSender{Chats: map[string]bot.Chat{"slack": chat}}, Clock: cancelOnSleep{cancel}}
	d := &outbox.Delivery{Effect: effect(1, "x")}
	_, err := stage.Exec(ctx, d)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, d.Settled())
}

// cancelOnSleep is a clock whose first wait is interrupted by a stop.
type cancelOnSleep struct{ cancel context.CancelFunc }

func (cancelOnSleep) Now() time.Time { return time.Time{} }
func (c cancelOnSleep) Sleep(ctx context.Context, _ time.Duration) error {
	c.cancel()
	return ctx.Err()
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		retry bool
		after time.Duration
	}{
		{"retry-after", fmt.Errorf("post: %w", rateLimited{5 * time.Second}), true, 5 * time.Second},
		{"429 without header", statusError(429), true, 0},
		{"502", statusError(502), true, 0},
		{"408", statusError(408), true, 0},
		{"403", statusError(403), false, 0},
		{"404", fmt.Errorf("wrapped: %w", statusError(404)), false, 0},
		{"retryable", retryable(true), true, 0},
		{"not retryable", retryable(false), false, 0},
		{"network", &net.DNSError{Err: "timeout", IsTimeout: true}, true, 0},
		{"cancelled", context.Canceled, false, 0},
		{"unknown is presumed transient", errors.New("something odd"), true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			retry, after := outbox.Classify(tc.err)
			assert.Equal(t, tc.retry, retry)
			assert.Equal(t, tc.after, after)
		})
	}
}

func TestChatSender(t *testing.T) {
	ctx := context.Background()
	chat := newFakeChat()
	s := outbox.Senders{"chat": &outbox.ChatSender{
		Chats: map[string]bot.Chat{"slack": chat},
		Refs:  refs{"card/7": {Channel: "C-INC", ID: "1700000000.000100"}},
	}}
	card := incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: "slack", Channel: "C-INC", Thread: "99.1"},
		Message: incidents.EffectMessage{Text: "**SEV2** checkout down", Fields: []incidents.EffectField{{Label: "Severity", Value: "SEV2"}},
			Buttons: []incidents.EffectButton{{ID: "ack", Label: "Acknowledge", Style: "primary", Value: "7"}}}}
	ref, _, _, err := s.Send(ctx, card)
	require.NoError(t, err)
	assert.Equal(t, incidents.EffectRef{Channel: "C-INC", ID: "1", Thread: "99.1"}, ref)

	update := incidents.Effect{Kind: incidents.EffectUpdate, Home: home, Target: "card/7", Message: incidents.EffectMessage{Text: "acknowledged"}}
	ref, _, _, err = s.Send(ctx, update)
	require.NoError(t, err)
	assert.Equal(t, "1700000000.000100", ref.ID)

	file := incidents.Effect{Kind: incidents.EffectUpload, Home: home, Message: incidents.EffectMessage{Text: "postmortem", File: &incidents.EffectFile{Name: "pm.md", Content: []byte("# pm")}}}
	_, _, _, err = s.Send(ctx, file)
	require.NoError(t, err)

	calls := chat.Calls()
	require.Len(t, calls, 3)
	assert.Equal(t, bot.Message{Text: "**SEV2** checkout down", Thread: "99.1", Fields: []bot.Field{{Label: "Severity", Value: "SEV2"}},
		Actions: []bot.Action{{ID: "ack", Label: "Acknowledge", Style: bot.StylePrimary, Value: "7"}}}, calls[0].Msg)
	assert.Equal(t, "update", calls[1].Method)
	assert.Equal(t, bot.MessageRef{Channel: "C-INC", ID: "1700000000.000100"}, calls[1].Ref)
	assert.Equal(t, "upload", calls[2].Method)
	assert.Equal(t, "pm.md", calls[2].File.Name)

	refusals := []struct {
		name string
		e    incidents.Effect
		err  string
	}{
		{"update of a message never posted", incidents.Effect{Kind: incidents.EffectUpdate, Home: home, Target: "card/8"}, "never posted"},
		{"platform not connected", incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: "discord", Channel: "1"}}, `no chat platform "discord"`},
		{"no pager configured", incidents.Effect{Kind: incidents.EffectNotify, Notifier: "pager"}, "no sender for notify/pager"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, retry, _, err := s.Send(ctx, tc.e)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			assert.False(t, retry, "retrying cannot fix this")
		})
	}
}

// TestRateLimitSparesUnlimitedPlatforms: the console is not paced, while a
// Slack channel is.
func TestRateLimitSparesUnlimitedPlatforms(t *testing.T) {
	clock := newFakeClock()
	s := &outbox.RateLimitStage{Limit: outbox.RateLimit{Interval: time.Second, Unlimited: []string{"console"}}, Clock: clock}
	for _, platform := range []string{"console", "slack"} {
		start := clock.Now()
		for range 3 {
			d := &outbox.Delivery{Effect: incidents.Effect{Kind: incidents.EffectPost, Home: incidents.Home{Platform: platform, Channel: "#alerts"}}}
			_, err := s.Exec(context.Background(), d)
			require.NoError(t, err)
		}
		waited := clock.Now().Sub(start)
		if platform == "console" {
			assert.Zero(t, waited, "the console is not paced")
		} else {
			assert.Equal(t, 2*time.Second, waited, "three Slack posts take two intervals")
		}
	}
}
