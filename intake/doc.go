// Package intake is where alerts enter Firebreak, whatever brought them:
// a webhook (bot/webhook: Alertmanager, Grafana, generic JSON), a probe
// (bot/probe) or an alert message the chat Router read in an alert
// channel. One Intake chooses the incident's home, records the alerts
// with incidents.Service in one transaction together with what they make
// Firebreak say (incidents.Effect, delivered by the outbox worker), and
// then does what follows the commit. It never posts and imports no chat
// package: which platforms are connected and give incidents rooms, and
// automated steps, are reached through the small Rooms and Steps
// interfaces it defines. A new incident's room is an effect too
// (incidents.EffectRoom, recorded right after its card): the outbox
// worker opens it (bot.RoomSender), so a crash after the commit still
// gets the incident its room.
//
// One webhook alert, top down:
//
//	POST /alerts/alertmanager ─► bot/webhook (auth, parse, event id
//	  "webhook:alertmanager:<sha256>") ─► Intake.IngestAlerts
//	  ─► Targets: one announce channel per connected platform
//	     (incidents.announce[platform], else the first alert channel),
//	     console first, then Slack, then Discord; the first is the home
//	  ─► Service.ReceiveAlerts(batch, origin with Effects: the cards of new
//	     incidents on every target, then on the home's target the opening
//	     of each one's room when rooms are on, reopen/mitigate news, their
//	     mirrors) one transaction for the whole batch, effects included
//	  ─► 2xx to Alertmanager ─► outbox worker posts the announcements, then
//	     opens each room from its posted card (bot.RoomSender: MoveHome,
//	     then the automated first step)
//	  ─► after the commit: Steps.AutoStart for new incidents without a
//	     room; repeats go to the coalescer
//
// A probe is the same from IngestAlerts on (event id
// "probe:<name>:<status>:<time>"). One chat alert:
//
//	bot.Router (parse, alert channel only) ─► Intake.IngestChatAlert
//	  ─► Service.ReceiveAlert(origin homed at the message's channel and
//	     thread, Effects: card "card/<n>" and first step — or, with rooms,
//	     the card and the room's opening from the alert message — or the
//	     news)
//	  ─► Steps.AutoStart (without a room); repeats to the coalescer
//
// Repeats of an incident are coalesced per channel: at most one
// "🔁 #n … fired again (×k in the last …)" per repeat interval while they
// keep coming (grouping.repeat_interval), recorded for the outbox. The
// goroutines that do it belong to the Intake: Run stops them.
package intake
