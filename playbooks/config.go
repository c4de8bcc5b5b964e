package playbooks

import "strings"

// Match picks the playbook for an alert: the first rule whose every set
// condition matches, else the default playbook.
func (c *Config) Match(in MatchInput) *Playbook {
	for i := range c.Rules {
		if r := &c.Rules[i]; r.matches(in) {
			if p := c.Playbook(r.Playbook); p != nil {
				return p
			}
		}
	}
	return c.DefaultPlaybook()
}

func (r *Rule) matches(in MatchInput) bool {
	if r.AlertName != "" && (r.alertName == nil || !r.alertName.MatchString(in.Name)) {
		return false
	}
	if r.Text != "" && (r.text == nil || !r.text.MatchString(in.Text)) {
		return false
	}
	if r.Service != "" && (r.service == nil || !r.service.MatchString(in.Service)) {
		return false
	}
	for k := range r.Labels {
		v, ok := in.Labels[k]
		re := r.labels[k]
		if !ok || re == nil || !re.MatchString(v) {
			return false
		}
	}
	if len(r.Severity) > 0 {
		found := false
		for _, s := range r.Severity {
			if strings.EqualFold(s, in.Severity) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Playbook returns the playbook with that id, or nil.
func (c *Config) Playbook(id string) *Playbook {
	for i := range c.Playbooks {
		if c.Playbooks[i].ID == id {
			return &c.Playbooks[i]
		}
	}
	return nil
}

// DefaultPlaybook is the playbook used when no rule matches (nil only for a
// Config that did not come from Parse).
func (c *Config) DefaultPlaybook() *Playbook {
	for i := range c.Playbooks {
		if c.Playbooks[i].Default {
			return &c.Playbooks[i]
		}
	}
	if len(c.Playbooks) > 0 {
		return &c.Playbooks[0]
	}
	return nil
}

// Probe returns the probe with that name, or nil.
func (c *Config) Probe(name string) *Probe {
	for i := range c.Probes {
		if c.Probes[i].Name == name {
			return &c.Probes[i]
		}
	}
	return nil
}

// Notifier returns the notifier with that name, or nil.
func (c *Config) Notifier(name string) *Notifier {
	for i := range c.Notifiers {
		if c.Notifiers[i].Name == name {
			return &c.Notifiers[i]
		}
	}
	return nil
}

// IsAlertChannel reports whether messages in a channel are read as alerts.
// Channels match by platform id or by name, case-insensitively, with or
// without the leading '#'.
func (c *Config) IsAlertChannel(idOrName string) bool {
	_, ok := spelled(c.AlertChannels, idOrName)
	return ok
}

// ChannelSpelling is how playbooks.yaml spells the channel a platform
// knows as spellings (its id, its name): the platform's announce channel
// or one of the alert channels, matched without case or "#". Firebreak
// records that channel under this one spelling, so the cards webhooks
// announce there and the news of commands typed there are one channel to
// the outbox, delivered in order and paced together.
func (c *Config) ChannelSpelling(platform string, spellings ...string) (string, bool) {
	configured := c.AlertChannels
	if a := c.Incidents.Announce[platform]; a != "" {
		configured = append([]string{a}, configured...)
	}
	for _, s := range spellings {
		if ch, ok := spelled(configured, s); ok {
			return ch, true
		}
	}
	return "", false
}

// spelled is the entry of configured that names idOrName.
func spelled(configured []string, idOrName string) (string, bool) {
	want := strings.TrimPrefix(strings.TrimSpace(idOrName), "#")
	if want == "" {
		return "", false
	}
	for _, ch := range configured {
		if strings.EqualFold(strings.TrimPrefix(ch, "#"), want) {
			return ch, true
		}
	}
	return "", false
}

// EscalationFor is the policy for incidents of severity (as "SEV1") run
// by pb: the playbook's own, else escalation_by_severity's for that
// severity, else the top-level one; nil when none exists.
func (c *Config) EscalationFor(pb *Playbook, severity string) *Escalation {
	if pb != nil && pb.Escalation != nil {
		return pb.Escalation
	}
	if e := c.EscalationBySeverity[severity]; e != nil {
		return e
	}
	return c.Escalation
}

// StepIndex is the position of the step with that id, or -1.
func (p *Playbook) StepIndex(id string) int {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return i
		}
	}
	return -1
}
