// Package bot is the chat-neutral middle of Firebreak: adapters in
// bot/slack, bot/discord and bot/console turn platform events into Event,
// the Router turns them into incidents.Service intents, and what must be
// said in a channel is recorded with the intent as an incidents.Effect and
// delivered by the outbox worker (bot/outbox) through the adapter's Chat.
// The Router never posts: only replies to the person who acted (ephemeral
// errors, refusals, the "which incident?" question) go straight back
// through the event's Replier.
//
// One chat alert, top down:
//
//	Slack message in #alerts ─► slack adapter ─► Event{Kind: KindMessage}
//	  ─► Router.Handle ─► alerttext.Parse ─► AlertIntake.IngestChatAlert (package intake)
//	  ─► Service.ReceiveAlert(origin homed at the message, with Effects)
//	       one transaction: incident + timeline entry + effects (card "card/<n>",
//	       then its first step — or, when playbooks.yaml asks for rooms, the
//	       opening of its room from the alert message, an incidents.EffectRoom)
//	  ─► commit wakes outbox.Worker ─► ChatSender ─► slack adapter Chat.Post ─► Slack
//	  ─► the room, in the card's lane after the card: RoomSender ─►
//	     ChannelCreator (a channel, or the one a crashed attempt created)
//	     ─► MoveHome (event "outbox:room:move:<effect>") records the room's
//	     cards and the edit of card/<n> into a pointer ─► Router.AutoStart;
//	     refused for good: RoomSender.GaveUp posts the first step where the
//	     alert was, once
//	  ─► intake, after the commit: the repeat coalescer, and without a room
//	     the automated first step: Router.AutoStart hands it to package
//	     automation (StartAction → action → FinishAction, each saying what
//	     it did)
//
// Buttons that run things only translate the press: Run calls
// automation.RunStep and "Post this update" automation.PostUpdate, with
// the presser's origin and what the press says (the card edit, the reply);
// a status update adds automation's UpdateEffects (stakeholder channels,
// update notifiers). Escalations and reminders are fired by package
// automation on the leader, never by the Router.
//
// One webhook alert, top down (the Router is not on its way; see package
// intake):
//
//	POST /alerts/alertmanager ─► bot/webhook ─► intake.Intake.IngestAlerts
//	  ─► home: the announce channel of the primary connected platform
//	  ─► Service.ReceiveAlerts(batch, origin with Effects: the announcements
//	     of new incidents on every connected platform, reopen/mitigate news)
//	       one transaction for the whole batch, effects included
//	  ─► 2xx to Alertmanager ─► outbox.Worker posts the announcements and
//	     then opens the rooms (RoomSender, from each posted card)
//	  ─► intake: automated first steps of incidents without a room, repeat
//	     summaries
//
// /incident declare records the card and, with rooms, the room's opening
// in the declare's transaction the same way (from the card). Inviting
// people who join later (ack, a role) to the room is a direct call
// through RoomInviter, in the background: it records nothing and is
// harmless to repeat.
//
// Nothing here imports a chat SDK. Message text uses a small portable
// markup that adapters render for their platform:
//
//	**bold**   _italic_   `code`   ```block```   [text](url)   <@userID>
//
// Slack renders **bold** as *bold* and links as <url|text>; Discord takes it
// as is; the console prints plain text.
package bot
