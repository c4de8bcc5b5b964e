// Package intake is where alerts enter Firebreak, whatever brought them:
// a webhook (bot/webhook: Alertmanager, Grafana, generic JSON), a probe
// (bot/probe) or an alert message the chat Router read in an alert
// channel. One Intake chooses the incident's home, records the alerts
// with incidents.Service in one transaction together with what they make
// Firebreak say (incidents.Effect, delivered by the outbox worker), and
// then does what follows the commit. It never posts and imports no chat
// package: rooms and automated steps are reached through the small Rooms
// and Steps interfaces it defines.
//
// One webhook alert, top down:
//
//	POST /alerts/alertmanager ─► bot/webhook (auth, parse, event id
//	  "webhook:alertmanager:<sha256>") ─► Intake.IngestAlerts
//	  ─► Targets: one announce channel per connected platform
//	     (incidents.announce[platform], else the first alert channel),
//	     console first, then Slack, then Discord; the first is the home
//	  ─► Service.ReceiveAlerts(batch, origin with Effects: the cards of new
//	     incidents on every target, reopen/mitigate news, their mirrors)
//	       one transaction for the whole batch, effects included
//	  ─► 2xx to Alertmanager ─► outbox worker posts the announcements
//	  ─► after the commit, in the background: Rooms.Open for each new
//	     incident (from its card, once the outbox posted it), then
//	     Steps.AutoStart; repeats go to the coalescer
//
// A probe is the same from IngestAlerts on (event id
// "probe:<name>:<status>:<time>"). One chat alert:
//
//	bot.Router (parse, alert channel only) ─► Intake.IngestChatAlert
//	  ─► Service.ReceiveAlert(origin homed at the message's channel and
//	     thread, Effects: card "card/<n>" and first step, or the news)
//	  ─► Rooms.Open from the alert message, Steps.AutoStart; repeats to
//	     the coalescer
//
// Repeats of an incident are coalesced per channel: at most one
// "🔁 #n … fired again (×k in the last …)" per repeat interval while they
// keep coming (grouping.repeat_interval), recorded for the outbox. The
// goroutines that do it, and those that open rooms for webhook
// incidents, belong to the Intake: Run stops them.
package intake
