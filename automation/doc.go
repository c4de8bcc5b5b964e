// Package automation is what Firebreak does on its own, beside the
// incidents package: automated playbook steps (http, command and probe
// actions), escalations and reminders (timers), and status updates as
// stakeholders read them (incidents.update_template, stakeholder
// channels, update notifiers). Each is an incidents.Service intent that
// records what Firebreak says with its change; the outbox worker
// (bot/outbox) delivers it. Nothing here imports a chat SDK or the chat
// router: messages are built with package cards.
//
// A timer, on the elected leader (RunTimers, once per leader term, with a
// Service whose writes are fenced by the term):
//
//	tick ─► Service.FireDueWith(timerEffects)
//	          one transaction: timer gone + escalation/reminder entry
//	          + effects (notice in the incident's home, pages to notifiers)
//	     ─► commit wakes the outbox ─► chat / notifiers
//
// An automated step, wherever the current step changed (AutoStart, called
// by the Router and intake after their intent committed) or a Run button
// was pressed (RunStep, called by the Router with the presser's origin):
//
//	Service.StartAction ─► step StepRunning in the store + "started" entry
//	                       (+ the presser's card edit and reply)
//	  ─► the action runs in the background (owned by Run, bounded by MaxRun)
//	  ─► Service.FinishAction: result entry + step done (and the next
//	     step's card) or pending again (with Run again / Skip), effects
//	     in the same transaction ─► outbox ─► chat
//	  ─► AutoStart of the next step when it is automated too
//
// "This step is running" lives in the store, not in a process: a second
// Run press on any replica is refused ("already running since 14:05 UTC")
// until the run ends. A run that never ends — Firebreak killed, the leader
// replica gone while an action ran — is found by RunTimers when this
// process leads (runs started before this process began, or older than
// MaxRun plus WriteTimeout on any replica) and ended with an "interrupted
// by a restart; run it again" entry and a Run again button, so the step
// can be run again.
//
// The Router's "Post this update" button calls PostUpdate, and every
// status update adds UpdateEffects to what it says.
package automation
