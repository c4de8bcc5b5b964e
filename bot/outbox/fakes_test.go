package outbox_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot"
)

// fakeClock advances only when something sleeps on it, so a storm's worth
// of rate limiting and backoff runs in microseconds and every wait is
// recorded.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// rateLimited is what the Slack adapter returns for a 429 with Retry-After.
type rateLimited struct{ after time.Duration }

func (e rateLimited) Error() string             { return fmt.Sprintf("rate limited, retry after %s", e.after) }
func (e rateLimited) RetryAfter() time.Duration { return e.after }

// statusError is an HTTP failure that knows its status code.
type statusError int

func (e statusError) Error() string   { return "HTTP " + strconv.Itoa(int(e)) }
func (e statusError) StatusCode() int { return int(e) }

// call is one posting call the fake chat received.
type call struct {
	Method  string // post, update, upload
	Channel string
	Ref     bot.MessageRef
	Msg     bot.Message
	File    bot.File
	At      time.Time
}

// fakeChat is a bot.Chat that records every call. Script, when set, is
// consulted before each call: a non-nil error fails that call.
type fakeChat struct {
	mu     sync.Mutex
	calls  []call
	seq    int
	script []error
	// onPost runs after a post has "landed" (the platform's 200).
	onPost func(call)
	posted chan call
}

var _ bot.Chat = (*fakeChat)(nil)

func newFakeChat() *fakeChat { return &fakeChat{posted: make(chan call, 1024)} }

func (f *fakeChat) next() error {
	if len(f.script) == 0 {
		return nil
	}
	err := f.script[0]
	f.script = f.script[1:]
	return err
}

func (f *fakeChat) record(c call) (bot.MessageRef, error) {
	f.mu.Lock()
	if err := f.next(); err != nil {
		f.mu.Unlock()
		return bot.MessageRef{}, err
	}
	f.seq++
	ref := bot.MessageRef{Channel: c.Channel, ID: strconv.Itoa(f.seq), Thread: c.Msg.Thread}
	if c.Method == "update" {
		ref = c.Ref
	}
	c.Ref = ref
	c.At = time.Now()
	f.calls = append(f.calls, c)
	hook := f.onPost
	f.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	f.posted <- c
	return ref, nil
}

func (f *fakeChat) Post(_ context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	return f.record(call{Method: "post", Channel: channel, Msg: m})
}

func (f *fakeChat) Update(_ context.Context, ref bot.MessageRef, m bot.Message) error {
	_, err := f.record(call{Method: "update", Channel: ref.Channel, Ref: ref, Msg: m})
	return err
}

func (f *fakeChat) Upload(_ context.Context, channel, thread string, file bot.File, comment string) error {
	_, err := f.record(call{Method: "upload", Channel: channel, Msg: bot.Message{Text: comment, Thread: thread}, File: file})
	return err
}

func (f *fakeChat) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// texts is the text of every post, in order.
func (f *fakeChat) texts() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Method+":"+c.Msg.Text)
	}
	return out
}
