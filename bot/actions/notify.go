package actions

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/firebreak/firebreak/playbooks"
)

// Notification is what escalations and status updates send to notifiers.
type Notification struct {
	// Kind is "escalation", "status_update" or "reminder".
	Kind     string `json:"kind"`
	Incident uint64 `json:"incident"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	// Text is the message for humans.
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// smtpTimeout bounds a whole email delivery.
const smtpTimeout = 30 * time.Second

// Notify sends n through the notifier: a JSON POST for webhooks (retried
// like HTTP actions, with an Idempotency-Key so a paging service sees one
// page), an email over SMTP for email notifiers.
func (r *Runner) Notify(ctx context.Context, nf playbooks.Notifier, n Notification, idempotencyKey string) error {
	switch nf.Kind {
	case "webhook":
		body, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("notifier %s: %w", nf.Name, err)
		}
		// The body is JSON we built, not a template: escape template
		// delimiters by passing it as data.
		res := r.HTTP(ctx, playbooks.HTTPAction{
			URL:     nf.URL,
			Method:  "POST",
			Headers: nf.Headers,
			Body:    "{{.}}",
		}, DefaultHTTPTimeout, string(body), idempotencyKey)
		if !res.OK {
			return fmt.Errorf("notifier %s: %s", nf.Name, res.Summary())
		}
		return nil
	case "email":
		if err := r.email(ctx, nf, n); err != nil {
			return fmt.Errorf("notifier %s: %w", nf.Name, err)
		}
		return nil
	}
	return fmt.Errorf("notifier %s: unknown kind %q", nf.Name, nf.Kind)
}

// email delivers one message. STARTTLS is used whenever the server offers
// it; credentials are only sent over TLS or to a loopback server (net/smtp
// refuses PLAIN auth otherwise).
func (r *Runner) email(ctx context.Context, nf playbooks.Notifier, n Notification) error {
	if nf.SMTP == "" || nf.From == "" || len(nf.To) == 0 {
		return errors.New("email needs smtp, from and to")
	}
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", nf.SMTP)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", nf.SMTP, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(nf.SMTP)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", nf.SMTP, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(tlsConfig(host)); err != nil {
			return fmt.Errorf("smtp %s: starttls: %w", nf.SMTP, err)
		}
	}
	if nf.Username != "" {
		pass := ""
		if nf.PasswordEnv != "" {
			pass = r.getenv(nf.PasswordEnv)
		}
		if err := c.Auth(smtp.PlainAuth("", nf.Username, pass, host)); err != nil {
			return fmt.Errorf("smtp %s: auth as %s: %w", nf.SMTP, nf.Username, err)
		}
	}
	if err := c.Mail(nf.From); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", nf.SMTP, err)
	}
	for _, to := range nf.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", nf.SMTP, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", nf.SMTP, err)
	}
	if _, err := w.Write(emailMessage(nf, n)); err != nil {
		return fmt.Errorf("smtp %s: writing message: %w", nf.SMTP, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message refused: %w", nf.SMTP, err)
	}
	return c.Quit()
}

// emailMessage builds an RFC 5322 message. Header values come from incident
// titles, which come from alerts: CR/LF are removed so they cannot add headers.
func tlsConfig(host string) *tls.Config {
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

func emailMessage(nf playbooks.Notifier, n Notification) []byte {
	clean := func(s string) string {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	subject := fmt.Sprintf("[%s] #%d %s — %s", n.Severity, n.Incident, n.Title, strings.ReplaceAll(n.Kind, "_", " "))
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", clean(nf.From))
	fmt.Fprintf(&b, "To: %s\r\n", clean(strings.Join(nf.To, ", ")))
	fmt.Fprintf(&b, "Subject: %s\r\n", clean(subject))
	fmt.Fprintf(&b, "Date: %s\r\n", n.At.UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	body := strings.ReplaceAll(n.Text, "\r\n", "\n")
	for line := range strings.SplitSeq(body, "\n") {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\r\nIncident #%d is %s.\r\n", n.Incident, n.Status)
	return []byte(b.String())
}
