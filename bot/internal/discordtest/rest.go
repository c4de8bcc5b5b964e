package discordtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// Routes the fake serves, as they appear in Call.Route and Fault.Route.
const (
	RouteGateway          = "GET /gateway"
	RouteGatewayBot       = "GET /gateway/bot"
	RouteMe               = "GET /users/@me"
	RouteGuildCommands    = "PUT /applications/{app}/guilds/{guild}/commands"
	RouteGlobalCommands   = "PUT /applications/{app}/commands"
	RouteChannel          = "GET /channels/{channel}"
	RouteGuildChannels    = "GET /guilds/{guild}/channels"
	RouteGuildMember      = "GET /guilds/{guild}/members/{user}"
	RouteActiveThreads    = "GET /guilds/{guild}/threads/active"
	RouteCreateMessage    = "POST /channels/{channel}/messages"
	RouteGetMessage       = "GET /channels/{channel}/messages/{message}"
	RouteEditMessage      = "PATCH /channels/{channel}/messages/{message}"
	RouteMessageThread    = "POST /channels/{channel}/messages/{message}/threads"
	RouteThread           = "POST /channels/{channel}/threads"
	RouteThreadMember     = "PUT /channels/{channel}/thread-members/{user}"
	RouteCallback         = "POST /interactions/{id}/{token}/callback"
	RouteFollowup         = "POST /webhooks/{app}/{token}"
	RouteEditFollowup     = "PATCH /webhooks/{app}/{token}/messages/{message}"
	RouteDeleteFollowup   = "DELETE /webhooks/{app}/{token}/messages/{message}"
	maxContent            = 2000
	maxEmbedTitle         = 256
	maxEmbedDescription   = 4096
	maxEmbedFields        = 25
	maxFieldName          = 256
	maxFieldValue         = 1024
	maxFooter             = 2048
	maxEmbedTotal         = 6000
	maxRows               = 5
	maxRowButtons         = 5
	maxCustomID           = 100
	maxButtonLabel        = 80
	maxThreadName         = 100
	codeUnknownChannel    = 10003
	codeUnknownMessage    = 10008
	codeUnknownWebhook    = 10015
	codeUnknownMember     = 10007
	codeUnknownInteract   = 10062
	codeEmptyMessage      = 50006
	codeInvalidFormBody   = 50035
	codeAlreadyAnswered   = 40060
	codeThreadExists      = 160004
	codeCannotEditMessage = 50005
)

// apiError is Discord's error body.
type apiError struct {
	status  int
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error reads like Discord's JSON error: code and message.
func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

func errorf(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// handler answers one route: a status and a value to encode as JSON (nil
// for no body), or an *apiError.
type handler func(r *http.Request, c *Call) (int, any, error)

func (s *Server) routes(mux *http.ServeMux) {
	add := func(route string, auth bool, h handler) {
		method, path, _ := strings.Cut(route, " ")
		mux.HandleFunc(method+" "+APIPrefix+path, s.wrap(route, auth, h))
	}
	add(RouteGateway, false, s.getGateway)
	add(RouteGatewayBot, true, s.getGateway)
	add(RouteMe, true, func(*http.Request, *Call) (int, any, error) { return 200, s.BotUser, nil })
	add(RouteGuildCommands, true, s.putCommands)
	add(RouteGlobalCommands, true, s.putCommands)
	add(RouteChannel, true, s.getChannel)
	add(RouteGuildChannels, true, s.getGuildChannels)
	add(RouteGuildMember, true, s.getMember)
	add(RouteActiveThreads, true, s.getActiveThreads)
	add(RouteCreateMessage, true, s.createMessage)
	add(RouteGetMessage, true, s.getMessage)
	add(RouteEditMessage, true, s.editMessage)
	add(RouteMessageThread, true, s.startMessageThread)
	add(RouteThread, true, s.startThread)
	add(RouteThreadMember, true, s.addThreadMember)
	add(RouteCallback, false, s.callback)
	add(RouteFollowup, false, s.followup)
	add(RouteEditFollowup, false, s.editFollowup)
	add(RouteDeleteFollowup, false, s.deleteFollowup)
}

// wrap records the call, checks the token, applies injected faults and rate
// limits, and writes the handler's answer as JSON.
func (s *Server) wrap(route string, auth bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		call := Call{Method: r.Method, Route: route, Path: strings.TrimPrefix(r.URL.Path, APIPrefix), Query: r.URL.RawQuery, At: time.Now()}
		status, body, err := s.serve(w, r, route, auth, h, &call)
		var apiErr *apiError
		if errors.As(err, &apiErr) {
			status, body = apiErr.status, apiErr
		} else if err != nil {
			status, body = http.StatusBadRequest, errorf(400, codeInvalidFormBody, "Invalid Form Body: %v", err)
		}
		call.Status = status
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.changed()
		s.mu.Unlock()
		if body == nil {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, auth bool, h handler, call *Call) (int, any, error) {
	if err := s.readBody(r, call); err != nil {
		return 0, nil, err
	}
	if auth && r.Header.Get("Authorization") != "Bot "+s.Token {
		return http.StatusUnauthorized, &apiError{Code: 0, Message: "401: Unauthorized"}, nil
	}
	if f := s.takeFault(route); f != nil {
		return faultAnswer(w, f)
	}
	if retry, limited := s.rateLimit(w, route, r.PathValue("channel")); limited {
		s.mu.Lock()
		s.limited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
		return http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": retry.Seconds(), "global": false}, nil
	}
	return h(r, call)
}

func (s *Server) takeFault(route string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Route != "" && f.Route != route {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		cp := *f
		return &cp
	}
	return nil
}

func faultAnswer(w http.ResponseWriter, f *Fault) (int, any, error) {
	if f.Status != http.StatusTooManyRequests {
		return f.Status, map[string]any{"message": http.StatusText(f.Status), "code": 0}, nil
	}
	secs := f.RetryAfter.Seconds()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	w.Header().Set("X-RateLimit-Limit", "1")
	w.Header().Set("X-RateLimit-Remaining", "0")
	w.Header().Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
	w.Header().Set("X-RateLimit-Bucket", "fault")
	if f.Global {
		w.Header().Set("X-RateLimit-Global", "true")
		w.Header().Set("X-RateLimit-Scope", "global")
	} else {
		w.Header().Set("X-RateLimit-Scope", "user")
	}
	return http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": f.Global}, nil
}

// rateLimit counts the request against its bucket and sets the
// X-RateLimit headers; limited reports a request that should have waited.
func (s *Server) rateLimit(w http.ResponseWriter, route, channel string) (retry time.Duration, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit.limit <= 0 {
		return 0, false
	}
	key := route + "|" + channel
	now := time.Now()
	b := s.limit.buckets[key]
	if b == nil || now.After(b.reset) {
		b = &bucket{remaining: s.limit.limit, reset: now.Add(s.limit.window)}
		s.limit.buckets[key] = b
	}
	after := b.reset.Sub(now)
	w.Header().Set("X-RateLimit-Bucket", strconv.Quote(key))
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(s.limit.limit))
	w.Header().Set("X-RateLimit-Reset-After", strconv.FormatFloat(after.Seconds(), 'f', 3, 64))
	if b.remaining <= 0 {
		w.Header().Set("X-RateLimit-Remaining", "0")
		return after, true
	}
	b.remaining--
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(b.remaining))
	return 0, false
}

// RateLimited returns how many requests the fake answered with 429 because
// the client did not wait for its bucket (injected faults not counted).
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// readBody keeps the JSON body (or payload_json and files of a multipart
// body) on the call.
func (s *Server) readBody(r *http.Request, c *Call) error {
	if r.Body == nil {
		return nil
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if !json.Valid(b) {
				return errors.New("body is not JSON")
			}
			c.Body = b
		}
		return nil
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("multipart: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(p, 25<<20))
		if err != nil {
			return fmt.Errorf("multipart part %q: %w", p.FormName(), err)
		}
		switch name := p.FormName(); {
		case name == "payload_json":
			if !json.Valid(b) {
				return errors.New("payload_json is not JSON")
			}
			c.Body = b
		case strings.HasPrefix(name, "files["):
			c.Files = append(c.Files, File{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Content: b})
		default:
			return fmt.Errorf("unexpected multipart field %q", name)
		}
	}
}

func (s *Server) getGateway(*http.Request, *Call) (int, any, error) {
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/gateway"
	return 200, map[string]any{
		"url":    url,
		"shards": 1,
		"session_start_limit": map[string]int{
			"total": 1000, "remaining": 999, "reset_after": 86400000, "max_concurrency": 1,
		},
	}, nil
}

func (s *Server) putCommands(r *http.Request, c *Call) (int, any, error) {
	if r.PathValue("app") != s.AppID {
		return 0, nil, errorf(403, 50001, "Missing Access")
	}
	guild := r.PathValue("guild")
	if guild != "" && guild != s.GuildID {
		return 0, nil, errorf(403, 50001, "Missing Access")
	}
	var cmds []*discordgo.ApplicationCommand
	if err := json.Unmarshal(c.Body, &cmds); err != nil {
		return 0, nil, fmt.Errorf("commands: %w", err)
	}
	if err := validateCommands(cmds); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]string{}
	for _, cmd := range s.cmds[guild] {
		old[cmd.Name] = cmd.ID
	}
	for _, cmd := range cmds {
		// A bulk overwrite keeps the id of a command whose name stays, as Discord does.
		cmd.ID = old[cmd.Name]
		if cmd.ID == "" {
			cmd.ID = s.NewID()
		}
		cmd.ApplicationID = s.AppID
		cmd.GuildID = guild
		cmd.Version = s.NewID()
	}
	s.cmds[guild] = cmds
	s.cmdPuts++
	s.changed()
	return 200, cmds, nil
}

func (s *Server) getChannel(r *http.Request, _ *Call) (int, any, error) {
	if c := s.Channel(r.PathValue("channel")); c != nil {
		return 200, c, nil
	}
	return 0, nil, errorf(404, codeUnknownChannel, "Unknown Channel")
}

func (s *Server) getGuildChannels(r *http.Request, _ *Call) (int, any, error) {
	if r.PathValue("guild") != s.GuildID {
		return 0, nil, errorf(404, 10004, "Unknown Guild")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*discordgo.Channel
	for _, c := range s.chans {
		if !c.IsThread() {
			out = append(out, c)
		}
	}
	return 200, out, nil
}

// getActiveThreads answers as Discord does: the guild's threads that are
// not archived, with the bot's memberships of them ("members": the fake
// keeps none).
func (s *Server) getActiveThreads(r *http.Request, _ *Call) (int, any, error) {
	if r.PathValue("guild") != s.GuildID {
		return 0, nil, errorf(404, 10004, "Unknown Guild")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	threads := []*discordgo.Channel{}
	for _, c := range s.chans {
		if c.IsThread() && (c.ThreadMetadata == nil || !c.ThreadMetadata.Archived) {
			threads = append(threads, c)
		}
	}
	slices.SortFunc(threads, func(a, b *discordgo.Channel) int { return compareIDs(a.ID, b.ID) })
	return 200, map[string]any{"threads": threads, "members": []any{}}, nil
}

func (s *Server) getMember(r *http.Request, _ *Call) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.users[r.PathValue("user")]; ok && r.PathValue("guild") == s.GuildID {
		return 200, m, nil
	}
	return 0, nil, errorf(404, codeUnknownMember, "Unknown Member")
}

// outgoing is what a client may send when creating or editing a message.
type outgoing struct {
	Content          *string                         `json:"content"`
	Embeds           *[]*discordgo.MessageEmbed      `json:"embeds"`
	Components       *[]json.RawMessage              `json:"components"`
	Flags            discordgo.MessageFlags          `json:"flags"`
	MessageReference *discordgo.MessageReference     `json:"message_reference"`
	Attachments      *[]*discordgo.MessageAttachment `json:"attachments"`
}

func decodeOutgoing(c *Call) (*outgoing, []discordgo.MessageComponent, error) {
	var o outgoing
	if len(c.Body) > 0 {
		if err := json.Unmarshal(c.Body, &o); err != nil {
			return nil, nil, fmt.Errorf("message: %w", err)
		}
	}
	if o.Content != nil && utf8.RuneCountInString(*o.Content) > maxContent {
		return nil, nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: content: Must be %d or fewer in length.", maxContent)
	}
	if o.Embeds != nil {
		if err := validateEmbeds(*o.Embeds); err != nil {
			return nil, nil, err
		}
	}
	var comps []discordgo.MessageComponent
	if o.Components != nil {
		var err error
		if comps, err = validateComponents(*o.Components); err != nil {
			return nil, nil, err
		}
		if comps == nil {
			comps = []discordgo.MessageComponent{}
		}
	}
	return &o, comps, nil
}

func validateEmbeds(embeds []*discordgo.MessageEmbed) error {
	if len(embeds) > 10 {
		return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds: Must be 10 or fewer in length.")
	}
	for i, e := range embeds {
		total := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
		switch {
		case utf8.RuneCountInString(e.Title) > maxEmbedTitle:
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds.%d.title: Must be %d or fewer in length.", i, maxEmbedTitle)
		case utf8.RuneCountInString(e.Description) > maxEmbedDescription:
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds.%d.description: Must be %d or fewer in length.", i, maxEmbedDescription)
		case len(e.Fields) > maxEmbedFields:
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds.%d.fields: Must be %d or fewer in length.", i, maxEmbedFields)
		}
		for j, f := range e.Fields {
			n, v := utf8.RuneCountInString(f.Name), utf8.RuneCountInString(f.Value)
			if n < 1 || n > maxFieldName || v < 1 || v > maxFieldValue {
				return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds.%d.fields.%d: name must be 1-%d and value 1-%d in length.", i, j, maxFieldName, maxFieldValue)
			}
			total += n + v
		}
		if e.Footer != nil {
			if utf8.RuneCountInString(e.Footer.Text) > maxFooter {
				return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds.%d.footer.text: Must be %d or fewer in length.", i, maxFooter)
			}
			total += utf8.RuneCountInString(e.Footer.Text)
		}
		if total > maxEmbedTotal {
			return errorf(400, codeInvalidFormBody, "Invalid Form Body: embeds.%d: Embed size exceeds maximum size of %d", i, maxEmbedTotal)
		}
	}
	return nil
}

// validateComponents checks action rows of buttons the way Discord does and
// decodes them.
func validateComponents(raw []json.RawMessage) ([]discordgo.MessageComponent, error) {
	if len(raw) > maxRows {
		return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components: Must be %d or fewer in length.", maxRows)
	}
	type rawComponent struct {
		Type       discordgo.ComponentType `json:"type"`
		CustomID   string                  `json:"custom_id"`
		Label      string                  `json:"label"`
		Style      discordgo.ButtonStyle   `json:"style"`
		URL        string                  `json:"url"`
		Components []rawComponent          `json:"components"`
	}
	seen := map[string]bool{}
	var out []discordgo.MessageComponent
	for i, rb := range raw {
		var row rawComponent
		if err := json.Unmarshal(rb, &row); err != nil {
			return nil, fmt.Errorf("components.%d: %w", i, err)
		}
		if row.Type != discordgo.ActionsRowComponent {
			return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.type: top-level components must be action rows", i)
		}
		if len(row.Components) < 1 || len(row.Components) > maxRowButtons {
			return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components: Must be between 1 and %d in length.", i, maxRowButtons)
		}
		for j, b := range row.Components {
			if b.Type != discordgo.ButtonComponent {
				return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components.%d.type: only buttons are expected", i, j)
			}
			switch {
			case utf8.RuneCountInString(b.Label) > maxButtonLabel:
				return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components.%d.label: Must be %d or fewer in length.", i, j, maxButtonLabel)
			case b.Style == discordgo.LinkButton && b.URL == "":
				return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components.%d.url: link buttons need a url", i, j)
			case b.Style != discordgo.LinkButton && (b.CustomID == "" || utf8.RuneCountInString(b.CustomID) > maxCustomID):
				return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components.%d.custom_id: Must be between 1 and %d in length.", i, j, maxCustomID)
			case b.Style < discordgo.PrimaryButton || b.Style > discordgo.LinkButton:
				return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components.%d.style: Value must be one of {1, 2, 3, 4, 5}.", i, j)
			case b.CustomID != "" && seen[b.CustomID]:
				return nil, errorf(400, codeInvalidFormBody, "Invalid Form Body: components.%d.components.%d.custom_id: Component custom id cannot be duplicated", i, j)
			}
			seen[b.CustomID] = true
		}
		c, err := discordgo.MessageComponentFromJSON(rb)
		if err != nil {
			return nil, fmt.Errorf("components.%d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// newMessage builds a message Firebreak posts through the API.
func (s *Server) newMessage(channelID string, o *outgoing, comps []discordgo.MessageComponent, files []File) (*discordgo.Message, error) {
	m := &discordgo.Message{
		ID:         s.NewID(),
		ChannelID:  channelID,
		GuildID:    s.GuildID,
		Author:     s.BotUser,
		Timestamp:  time.Now().UTC(),
		Components: comps,
		Flags:      o.Flags,
		Type:       discordgo.MessageTypeDefault,
	}
	if o.Content != nil {
		m.Content = *o.Content
	}
	if o.Embeds != nil {
		m.Embeds = *o.Embeds
	}
	if o.MessageReference != nil {
		m.MessageReference = o.MessageReference
		m.Type = discordgo.MessageTypeReply
	}
	for _, f := range files {
		id := s.NewID()
		m.Attachments = append(m.Attachments, &discordgo.MessageAttachment{
			ID: id, Filename: f.Name, ContentType: f.ContentType, Size: len(f.Content),
			URL: s.URL + "/attachments/" + channelID + "/" + id + "/" + f.Name,
		})
	}
	if m.Content == "" && len(m.Embeds) == 0 && len(m.Components) == 0 && len(m.Attachments) == 0 {
		return nil, errorf(400, codeEmptyMessage, "Cannot send an empty message")
	}
	return m, nil
}

func (s *Server) createMessage(r *http.Request, c *Call) (int, any, error) {
	channelID := r.PathValue("channel")
	if s.Channel(channelID) == nil {
		return 0, nil, errorf(404, codeUnknownChannel, "Unknown Channel")
	}
	o, comps, err := decodeOutgoing(c)
	if err != nil {
		return 0, nil, err
	}
	m, err := s.newMessage(channelID, o, comps, c.Files)
	if err != nil {
		return 0, nil, err
	}
	// Encoded before it is stored: from then on other requests (an edit,
	// a thread started from it) change it under s.mu.
	body := mustJSON(m)
	s.store(m, c.Files)
	// Discord echoes the bot's own messages on the gateway; the adapter must ignore them.
	s.dispatchMessage(m)
	return 200, json.RawMessage(body), nil
}

// store keeps a new message (and its files' contents) in its channel.
func (s *Server) store(m *discordgo.Message, files []File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[m.ChannelID] = append(s.msgs[m.ChannelID], m)
	for i, f := range files {
		s.files[m.Attachments[i].ID] = f
	}
	s.changed()
}

// Attachment returns the content of an attachment, or fails the test.
func (s *Server) Attachment(a *discordgo.MessageAttachment) File {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[a.ID]
	if !ok {
		s.t.Fatalf("discordtest: no attachment %s", a.ID)
	}
	return f
}

func (s *Server) getMessage(r *http.Request, _ *Call) (int, any, error) {
	if m := s.Message(r.PathValue("channel"), r.PathValue("message")); m != nil {
		return 200, json.RawMessage(mustJSON(m)), nil
	}
	return 0, nil, errorf(404, codeUnknownMessage, "Unknown Message")
}

func (s *Server) editMessage(r *http.Request, c *Call) (int, any, error) {
	o, comps, err := decodeOutgoing(c)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessage(r.PathValue("channel"), r.PathValue("message"))
	if m == nil || m.Flags&discordgo.MessageFlagsEphemeral != 0 {
		return 0, nil, errorf(404, codeUnknownMessage, "Unknown Message")
	}
	if m.Author == nil || m.Author.ID != s.BotUser.ID {
		return 0, nil, errorf(403, codeCannotEditMessage, "Cannot edit a message authored by another user")
	}
	applyEdit(m, o, comps)
	s.changed()
	return 200, json.RawMessage(mustJSON(m)), nil
}

func applyEdit(m *discordgo.Message, o *outgoing, comps []discordgo.MessageComponent) {
	if o.Content != nil {
		m.Content = *o.Content
	}
	if o.Embeds != nil {
		m.Embeds = *o.Embeds
	}
	if comps != nil {
		m.Components = comps
	}
	now := time.Now().UTC()
	m.EditedTimestamp = &now
}

type threadParams struct {
	Name                string                `json:"name"`
	AutoArchiveDuration int                   `json:"auto_archive_duration"`
	Type                discordgo.ChannelType `json:"type"`
}

func (s *Server) decodeThread(c *Call) (threadParams, error) {
	var p threadParams
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return p, fmt.Errorf("thread: %w", err)
	}
	if n := utf8.RuneCountInString(p.Name); n < 1 || n > maxThreadName {
		return p, errorf(400, codeInvalidFormBody, "Invalid Form Body: name: Must be between 1 and %d in length.", maxThreadName)
	}
	switch p.AutoArchiveDuration {
	case 0, 60, 1440, 4320, 10080:
	default:
		return p, errorf(400, codeInvalidFormBody, "Invalid Form Body: auto_archive_duration: Value must be one of (60, 1440, 4320, 10080).")
	}
	return p, nil
}

func (s *Server) startMessageThread(r *http.Request, c *Call) (int, any, error) {
	p, err := s.decodeThread(c)
	if err != nil {
		return 0, nil, err
	}
	parent, msgID := r.PathValue("channel"), r.PathValue("message")
	s.mu.Lock()
	pc, ok := s.chans[parent]
	m := s.findMessage(parent, msgID)
	_, exists := s.chans[msgID]
	s.mu.Unlock()
	switch {
	case !ok:
		return 0, nil, errorf(404, codeUnknownChannel, "Unknown Channel")
	case pc.IsThread():
		return 0, nil, errorf(400, 50024, "Cannot execute action on this channel type")
	case m == nil:
		return 0, nil, errorf(404, codeUnknownMessage, "Unknown Message")
	case exists:
		return 0, nil, errorf(400, codeThreadExists, "A thread has already been created for this message")
	}
	// A thread started from a message has the message's id.
	th := s.newThread(msgID, parent, p.Name, discordgo.ChannelTypeGuildPublicThread, p.AutoArchiveDuration)
	s.mu.Lock()
	if m := s.findMessage(parent, msgID); m != nil {
		m.Thread = th
	}
	s.mu.Unlock()
	return 201, th, nil
}

func (s *Server) startThread(r *http.Request, c *Call) (int, any, error) {
	p, err := s.decodeThread(c)
	if err != nil {
		return 0, nil, err
	}
	pc := s.Channel(r.PathValue("channel"))
	if pc == nil {
		return 0, nil, errorf(404, codeUnknownChannel, "Unknown Channel")
	}
	if pc.IsThread() {
		return 0, nil, errorf(400, 50024, "Cannot execute action on this channel type")
	}
	typ := p.Type
	if typ == 0 {
		typ = discordgo.ChannelTypeGuildPrivateThread
	}
	return 201, s.newThread(s.NewID(), pc.ID, p.Name, typ, p.AutoArchiveDuration), nil
}

func (s *Server) newThread(id, parent, name string, typ discordgo.ChannelType, archive int) *discordgo.Channel {
	if archive == 0 {
		archive = 4320
	}
	th := &discordgo.Channel{
		ID: id, GuildID: s.GuildID, ParentID: parent, Name: name, Type: typ, OwnerID: s.BotUser.ID,
		ThreadMetadata: &discordgo.ThreadMetadata{AutoArchiveDuration: archive},
	}
	s.mu.Lock()
	s.chans[id] = th
	s.names[name] = id
	s.changed()
	s.mu.Unlock()
	cp := *th
	s.dispatchQuiet("THREAD_CREATE", struct {
		*discordgo.Channel
		NewlyCreated bool `json:"newly_created"`
	}{&cp, true})
	return &cp
}

func (s *Server) addThreadMember(r *http.Request, _ *Call) (int, any, error) {
	th := s.Channel(r.PathValue("channel"))
	if th == nil || !th.IsThread() {
		return 0, nil, errorf(404, codeUnknownChannel, "Unknown Channel")
	}
	user := r.PathValue("user")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[user]; !ok {
		return 0, nil, errorf(404, codeUnknownMember, "Unknown Member")
	}
	s.tmembs[th.ID] = append(s.tmembs[th.ID], user)
	s.changed()
	return 204, nil, nil
}

func mustJSON(m *discordgo.Message) []byte {
	b, err := MessageJSON(m)
	if err != nil {
		panic("discordtest: encoding a message: " + err.Error())
	}
	return b
}
