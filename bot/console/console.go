// Package console is Firebreak's default chat: a local chat in the
// terminal. Lines typed (or piped) in become bot events — paste an alert
// to open an incident, type /incident … to work it, type a number to press
// a button — and what Firebreak says is printed as plain text.
//
// The console handles one line at a time, synchronously, so a transcript
// is deterministic: that makes it the easiest way to try a playbook and
// the way Firebreak's end-to-end tests drive the whole bot.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/incidents"
)

// Platform is the platform name of console events and actors.
const Platform = "console"

// maxLine bounds one input line (a pasted alert can be long; a runaway
// pipe must not exhaust memory).
const maxLine = 64 << 10

// maxLines bounds a continued (\) multi-line paste.
const maxLines = 200

// Options configure a Console. Zero values pick the defaults.
type Options struct {
	// Channel is the channel typed lines go to (default "#alerts").
	Channel string
	// User is who types (default: $USER on platform "console").
	User incidents.Actor
	// Logger for what goes wrong outside the transcript.
	Logger *slog.Logger
	// Prompt shows "#alerts> " before each line; leave it false when
	// stdin is not a terminal, so piped transcripts stay clean.
	Prompt bool
	// PinEmoji is the reaction /pin sends (default "pushpin", as in
	// playbooks.yaml).
	PinEmoji string
	// Idle, when set, waits until the outbox has delivered what the last
	// line caused (serve passes the outbox worker's Idle). The console
	// calls it after each line and before it stops, so the next line of a
	// script sees the posts (and button numbers) the last one caused, and
	// piped input prints everything before the process exits.
	Idle func(ctx context.Context) error
}

// idleWait bounds one wait for the outbox: a platform that does not answer
// must not stop the console reading.
const idleWait = 30 * time.Second

// Console is the terminal chat. It is a bot.Chat (for the Router's own
// posts, which may come from other goroutines) and feeds typed lines to a
// bot.Handler.
type Console struct {
	in   io.Reader
	h    bot.Handler
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // guards everything below and serialises output
	out     io.Writer
	channel string
	seq     int
	// run tells this run's events from an earlier run's: event ids are
	// recorded as seen for days, and a restarted console numbering from 1
	// again would otherwise have its first commands dropped as redeliveries.
	run string
	// buttons are those of the latest message printed with any (posted or
	// updated); typing their number presses one.
	buttons   []button
	buttonsOn bot.MessageRef
	// numbered remembers the numbers of recent messages' buttons, so an
	// update keeps them; order bounds it to maxNumbered messages.
	numbered map[bot.MessageRef]numbering
	order    []bot.MessageRef
	// private are the numbered messages shown "(only you)", so their
	// updates say so too.
	private map[bot.MessageRef]bool
	// last is the latest message anyone wrote, for /react.
	last       bot.MessageRef
	lastText   string
	lastAuthor incidents.Actor
	names      map[string]string
}

// New returns a console reading in and writing out for h.
func New(in io.Reader, out io.Writer, h bot.Handler, opts Options) *Console {
	if opts.Channel == "" {
		opts.Channel = "#alerts"
	}
	if opts.User.IsZero() {
		name := os.Getenv("USER")
		if name == "" {
			name = "you"
		}
		opts.User = incidents.Actor{Platform: Platform, ID: name, Name: name}
	}
	if opts.User.Platform == "" {
		opts.User.Platform = Platform
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PinEmoji == "" {
		opts.PinEmoji = "pushpin"
	}
	c := &Console{in: in, out: out, h: h, opts: opts, log: opts.Logger,
		channel: channelName(opts.Channel), run: strconv.FormatInt(time.Now().UnixNano(), 36), names: map[string]string{}, numbered: map[bot.MessageRef]numbering{}, private: map[bot.MessageRef]bool{}}
	if opts.User.ID != "" {
		c.names[opts.User.ID] = opts.User.String()
	}
	return c
}

func channelName(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "#") {
		s = "#" + s
	}
	return s
}

// Run reads lines until EOF (then returns nil; every line read has been
// handled by then) or until ctx is done (then returns ctx's error). The
// reader is read on its own goroutine, which stays blocked in Read until
// the input ends if ctx ends first: stdin cannot be interrupted.
func (c *Console) Run(ctx context.Context) error {
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(c.in)
		sc.Buffer(make([]byte, 0, 4096), maxLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				readErr <- nil
				return
			}
		}
		readErr <- sc.Err()
	}()
	c.prompt()
	var pending []string
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			if len(pending) > 0 {
				c.line(ctx, strings.Join(pending, "\n"))
			}
			c.idle(ctx)
			if err != nil {
				return fmt.Errorf("console input: %w", err)
			}
			return nil
		case l := <-lines:
			if cont, ok := strings.CutSuffix(l, `\`); ok && len(pending) < maxLines {
				pending = append(pending, cont)
				continue
			}
			pending = append(pending, l)
			text := strings.Join(pending, "\n")
			pending = pending[:0]
			more := c.line(ctx, text)
			c.idle(ctx)
			if !more {
				return nil
			}
			c.prompt()
		}
	}
}

// idle waits (bounded) for the outbox to deliver what the last line
// caused; see Options.Idle.
func (c *Console) idle(ctx context.Context) {
	if c.opts.Idle == nil {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, idleWait)
	defer cancel()
	if err := c.opts.Idle(ictx); err != nil && ctx.Err() == nil {
		c.log.Warn("console: the outbox did not deliver everything in time; carrying on", "err", err)
	}
}

func (c *Console) prompt() {
	if !c.opts.Prompt {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, "%s> ", c.channel)
}

var buttonNumber = regexp.MustCompile(`^[1-9][0-9]?$`)

// line handles one typed line; false means the user asked to quit.
func (c *Console) line(ctx context.Context, text string) bool {
	t := strings.TrimSpace(text)
	if t == "" {
		return true
	}
	cmd, rest, _ := strings.Cut(t, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(cmd) {
	case "/quit", "/exit":
		return false
	case "/help":
		c.printf("%s", consoleHelp)
		return true
	case "/join", "/channel":
		if rest == "" {
			c.printf("usage: /join #channel\n")
			return true
		}
		c.mu.Lock()
		c.channel = channelName(rest)
		c.mu.Unlock()
		c.printf("(now in %s)\n", channelName(rest))
		return true
	case "/incident":
		c.handle(ctx, bot.Event{Kind: bot.KindCommand, Text: rest})
		return true
	case "/react":
		c.react(ctx, strings.Trim(rest, ": "))
		return true
	case "/pin":
		if rest == "" {
			c.printf("usage: /pin <text>\n")
			return true
		}
		ref := c.remember(c.opts.User, rest)
		c.handle(ctx, bot.Event{Kind: bot.KindReaction, Emoji: c.opts.PinEmoji, Target: ref, TargetAuthor: c.opts.User, TargetText: rest})
		return true
	}
	if buttonNumber.MatchString(t) {
		c.press(ctx, t)
		return true
	}
	if strings.HasPrefix(t, "/") && !strings.Contains(cmd, "\n") && !strings.Contains(cmd[1:], "/") {
		c.printf("unknown console command %s; /help lists them\n", cmd)
		return true
	}
	ref := c.remember(c.opts.User, text)
	c.handle(ctx, bot.Event{Kind: bot.KindMessage, Text: text, Target: ref})
	return true
}

const consoleHelp = `Console commands:
  /incident <command>   work an incident (/incident help lists them)
  <number>              press that button of the latest message with buttons
  /join #channel        switch channel (alias /channel)
  /react <emoji>        react to the latest message (/react pushpin pins it to the timeline)
  /pin <text>           add text to the incident timeline, as a pinned message
  /help                 this help
  /quit                 leave (so does end of input)
Anything else is a chat message in the current channel: paste an alert line
in an alert channel to open an incident. End a line with \ to continue it.
`

// remember records a message typed by the user, for /react.
func (c *Console) remember(author incidents.Actor, text string) bot.MessageRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ref := bot.MessageRef{Channel: c.channel, ID: strconv.Itoa(c.seq)}
	c.last, c.lastText, c.lastAuthor = ref, text, author
	return ref
}

func (c *Console) react(ctx context.Context, emoji string) {
	if emoji == "" {
		c.printf("usage: /react <emoji>, e.g. /react pushpin\n")
		return
	}
	c.mu.Lock()
	target, text, author := c.last, c.lastText, c.lastAuthor
	c.mu.Unlock()
	if target.ID == "" {
		c.printf("nothing to react to yet\n")
		return
	}
	c.handle(ctx, bot.Event{Kind: bot.KindReaction, Emoji: emoji, Target: target, TargetText: text, TargetAuthor: author})
}

func (c *Console) press(ctx context.Context, num string) {
	i, _ := strconv.Atoi(num)
	c.mu.Lock()
	buttons, on := c.buttons, c.buttonsOn
	c.mu.Unlock()
	var a bot.Action
	for _, b := range buttons {
		if b.n == i {
			a = b.Action
		}
	}
	if a.ID == "" {
		c.printf("no button [%d] on the latest message with buttons\n", i)
		return
	}
	c.handle(ctx, bot.Event{Kind: bot.KindAction, ActionID: a.ID, Value: a.Value, Target: on})
}

// handle fills in what every console event carries and runs it to the end
// before the next line is read.
func (c *Console) handle(ctx context.Context, ev bot.Event) {
	c.mu.Lock()
	c.seq++
	ev.ID = "console:" + c.run + ":" + strconv.Itoa(c.seq)
	ev.Platform = Platform
	ev.Channel = c.channel
	ev.ChannelName = strings.TrimPrefix(c.channel, "#")
	c.mu.Unlock()
	ev.User = c.opts.User
	if err := c.h.Handle(ctx, ev, replier{c: c, channel: ev.Channel}); err != nil {
		c.log.ErrorContext(ctx, "console event failed", "event", ev.ID, "err", err)
		c.printf("(error: %v)\n", err)
	}
}

func (c *Console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// replier answers in the channel the event came from.
type replier struct {
	c       *Console
	channel string
}

// Reply implements bot.Replier: ephemeral answers are marked "(only you)".
func (r replier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	return r.c.post(r.channel, m, m.Ephemeral)
}

// Post implements bot.Chat.
func (c *Console) Post(ctx context.Context, channel string, m bot.Message) (bot.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return bot.MessageRef{}, fmt.Errorf("post to %s: %w", channel, err)
	}
	return c.post(channelName(channel), m, false)
}

func (c *Console) post(channel string, m bot.Message, ephemeral bool) (bot.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ref := bot.MessageRef{Channel: channel, ID: strconv.Itoa(c.seq), Thread: m.Thread}
	prefix := "[" + channel + "] Firebreak: "
	if ephemeral {
		prefix = "[" + channel + "] Firebreak (only you): "
	}
	keyed := c.numberFor(ref, m.Actions)
	if ephemeral && len(keyed) > 0 {
		c.private[ref] = true
	}
	if err := c.write(prefix, m, keyed); err != nil {
		return bot.MessageRef{}, err
	}
	if !ephemeral {
		c.last, c.lastText, c.lastAuthor = ref, m.Text, incidents.Bot
	}
	return ref, nil
}

// Update implements bot.Chat: the new text is printed as "(updated)";
// buttons still on it keep their numbers, and it becomes the message whose
// buttons typed numbers press.
func (c *Console) Update(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update message %s: %w", ref.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keyed := c.numberFor(ref, m.Actions)
	who := "Firebreak: "
	if c.private[ref] {
		who = "Firebreak (only you): "
	}
	return c.write("["+ref.Channel+"] (updated) "+who, m, keyed)
}

// Upload implements bot.Chat: the Router has already written the file, so
// the console only says it was attached.
func (c *Console) Upload(ctx context.Context, channel, thread string, f bot.File, comment string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attach %s: %w", f.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	text := comment
	if text != "" {
		text += "\n"
	}
	text += fmt.Sprintf("📎 %s (%d bytes)", f.Name, len(f.Content))
	return c.write("["+channelName(channel)+"] Firebreak: ", bot.Message{Text: text}, nil)
}

// maxNumbered bounds how many messages' button numbers the console keeps.
const maxNumbered = 100

// numberFor numbers the buttons of message ref as posted or updated now,
// keeping the numbers it had. A message printed with buttons becomes the
// one whose buttons typed numbers press; the caller holds mu.
func (c *Console) numberFor(ref bot.MessageRef, actions []bot.Action) []button {
	before, known := c.numbered[ref]
	now := number(before, actions)
	keyed := now.buttons
	if !known {
		if len(c.order) == maxNumbered {
			delete(c.numbered, c.order[0])
			delete(c.private, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, ref)
	}
	c.numbered[ref] = now
	switch {
	case len(actions) > 0:
		c.buttons, c.buttonsOn = keyed, ref
	case c.buttonsOn == ref:
		c.buttons = nil
	}
	return keyed
}

// button is a button with the number typed to press it.
type button struct {
	bot.Action
	n int
}

// numbering is the buttons of one message with their numbers, and the
// next number never yet used on it.
type numbering struct {
	buttons []button
	next    int
}

// number gives each action the number to type for it. A button that was
// on the message before (same action and value) keeps its number, so an
// update never turns "3" from Acknowledge into Resolve; new buttons get
// numbers never used on the message.
func number(before numbering, actions []bot.Action) numbering {
	out := numbering{next: max(before.next, 1)}
	for _, a := range actions {
		n := 0
		for _, b := range before.buttons {
			if b.ID == a.ID && b.Value == a.Value {
				n = b.n
			}
		}
		if n == 0 {
			n = out.next
			out.next++
		}
		out.buttons = append(out.buttons, button{Action: a, n: n})
	}
	return out
}

// write prints a message as plain text with its numbered buttons; the
// caller holds mu.
func (c *Console) write(prefix string, m bot.Message, buttons []button) error {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(c.plain(m.Text))
	b.WriteByte('\n')
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "    %s: %s\n", c.plain(f.Label), c.plain(f.Value))
	}
	if len(buttons) > 0 {
		b.WriteString("   ")
		for _, a := range buttons {
			fmt.Fprintf(&b, " [%d] %s", a.n, a.Label)
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(c.out, b.String()); err != nil {
		return fmt.Errorf("console output: %w", err)
	}
	return nil
}

var mentionPattern = regexp.MustCompile(`<@!?([^<>|\s]+)(?:\|([^<>]*))?>`)

// plain turns the portable markup into terminal text: no ** or zero-width
// spaces, and <@id> as @name.
func (c *Console) plain(s string) string {
	s = strings.ReplaceAll(s, "**", "")
	s = strings.ReplaceAll(s, "\u200b", "")
	return mentionPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := mentionPattern.FindStringSubmatch(m)
		if sub[2] != "" {
			return "@" + sub[2]
		}
		if name, ok := c.names[sub[1]]; ok {
			return "@" + name
		}
		return "@" + sub[1]
	})
}
