package incidents

import (
	"errors"
	"strings"
)

// ErrForbidden is returned (wrapped) when the permissions in playbooks.yaml
// do not allow the actor to do what they asked. The refusal itself is
// recorded on the timeline.
var ErrForbidden = errors.New("not permitted")

// Permission names a guarded intent, as listed under permissions: in
// playbooks.yaml.
type Permission string

// Guarded intents.
const (
	PermResolve        Permission = "resolve"
	PermSeverity       Permission = "severity"
	PermConfirmActions Permission = "confirm_actions"
)

// refusal is returned by a change that the permissions refuse; apply
// records it on the timeline and commits that, instead of rolling back.
type refusal struct {
	perm Permission
	err  error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// Permitted reports whether actor may do perm on inc. Lists hold user ids,
// names or role:commander / role:comms / role:responder; an empty list
// means anyone — except for confirm_actions, where it means the commander,
// or anyone while nobody leads. Firebreak itself is always permitted.
func (s *Service) Permitted(inc *Incident, actor Actor, perm Permission) bool {
	if actor.Same(Bot) {
		return true
	}
	var list []string
	if s.books != nil {
		switch perm {
		case PermResolve:
			list = s.books.Permissions.Resolve
		case PermSeverity:
			list = s.books.Permissions.Severity
		case PermConfirmActions:
			list = s.books.Permissions.ConfirmActions
		}
	}
	if len(list) == 0 {
		if perm == PermConfirmActions {
			return inc.Commander == nil || inc.Commander.Same(actor)
		}
		return true
	}
	for _, who := range list {
		if matchesPrincipal(inc, actor, who) {
			return true
		}
	}
	return false
}

func matchesPrincipal(inc *Incident, a Actor, who string) bool {
	who = strings.TrimSpace(who)
	if role, ok := strings.CutPrefix(who, "role:"); ok {
		switch Role(role) {
		case RoleCommander:
			return inc.Commander != nil && inc.Commander.Same(a)
		case RoleComms:
			return inc.Comms != nil && inc.Comms.Same(a)
		case RoleResponder:
			for _, r := range inc.Responders {
				if r.Same(a) {
					return true
				}
			}
		}
		return false
	}
	who = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(who, "<@"), ">"), "@")
	return who != "" && (who == a.ID || strings.EqualFold(who, a.Name))
}

// require refuses the change unless the actor holds perm.
func (c *change) require(perm Permission) error {
	if c.s.Permitted(c.inc, c.actor, perm) {
		return nil
	}
	return &refusal{perm: perm, err: Refuse(ErrForbidden, TextForbidden, c.actor, permVerb(perm), c.inc.Number, perm)}
}

func permVerb(p Permission) string {
	switch p {
	case PermResolve:
		return "resolve"
	case PermSeverity:
		return "change the severity of"
	}
	return "confirm actions on"
}
