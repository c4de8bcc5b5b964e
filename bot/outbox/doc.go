// Package outbox delivers what Firebreak has decided to say or do outside
// itself — chat posts, card updates, files, pages, tracker issues — after
// the decision is durable. It is the one way out:
//
//	intent (incidents.Service)
//	  └─ one storage transaction: state change + timeline entry
//	     + storage.Outbox.Enqueue(incidents.Effect)      ← recorded, fsynced
//	        └─ commit signals Store.Committed()          (no polling)
//	           └─ Worker: read pending effects in ID order, one lane per channel
//	              └─ CoalesceStage   skip an effect a newer one with the same CoalesceKey replaces
//	                 RateLimitStage  at most one message per channel per second (waits, never drops)
//	                 RetryStage      per-attempt timeout, backoff with jitter, Retry-After, give-up bound
//	                   └─ Sender: ChatSender → bot.Chat.Post/Update/Upload (adapters), a notifier,
//	                              or the tracker (bot/trackers.Worker: files a follow-up once)
//	              └─ Store.Settle: delivered + platform message ref | coalesced | gave up + reason
//	     (and, while it runs, Pruner.Prune: settled effects older than Config.Retention, in batches)
//
// # Guarantees
//
// An effect is recorded in the same transaction as the change that caused
// it, so a crash keeps both or neither. The worker delivers every recorded
// effect: at start it reads what a previous process left pending, and after
// that it is woken by each commit that enqueued effects. Within one channel
// effects go out in commit order. A storm slows delivery down (one message
// per channel per second by default) but drops nothing; only coalescing
// (an explicitly newer version of the same message) and giving up (a
// refusal, or the RetryPolicy's bounds) settle an effect without sending
// it, and both are recorded with their reason.
//
// A settled effect is never sent again. The one window where a message can
// be sent twice is a crash (or a stop, or a store that refuses writes)
// between the platform accepting the message and the delivery being
// recorded: the next worker finds the effect pending and sends it again.
// Slack, Discord and the console offer no idempotency key for posts that
// would let the platform drop the repeat, so this window — one duplicate
// per effect in flight at the moment of the crash, at most one per channel
// since lanes deliver one effect at a time — is the documented price of
// never losing a post. Updates are idempotent (the same content twice), so
// the window only shows for posts and uploads.
//
// # Classifying failures
//
// Like Alertmanager's Notifier, a Sender says whether a failure is worth
// retrying; ChatSender asks the adapter's error (see Classify), so the
// adapters, which know their platform, decide, and this package imports no
// chat SDK. RetryStage's loop is retry.Do (bot/outbox/retry), which the
// HTTP calls of playbook actions share.
//
// # Pruning
//
// Settled effects are the record of what Firebreak said. The worker
// deletes those settled longer ago than Config.Retention (7 days by
// default) when it starts and every PruneEvery, in transactions of at most
// PruneBatch effects, through the Store's Pruner; pending effects and the
// latest delivered post of each Key (what Ref finds for later updates) are
// kept however old.
//
// # One chat alert, one webhook alert
//
// A chat alert: the Slack adapter turns the alert message into a
// bot.Event; the Router calls incidents.Service.ReceiveAlert with an
// Origin whose Effects builds the card (keyed "card/<n>") and the first
// step card; the Service records the incident, its timeline entry and
// both effects in one transaction; the commit wakes the Worker, which
// posts the card, then the step, in the alert's channel and records each
// delivery with the message's ts. A webhook alert: the webhook handler
// calls intake.Intake.IngestAlerts, which calls ReceiveAlerts for the batch with
// the announcements of every new incident on every connected platform as
// effects; the Worker posts them the same way. What the outbox gives up
// on goes on the incident's timeline (Config.GaveUp).
//
// serve runs one Worker over the bbolt file's storage.Outbox, with a
// ChatSender over the connected adapters; the console is not rate-limited
// and waits for Worker.Idle between lines. TestOnlyTheOutboxPosts fails if
// any package but this one and the adapters calls bot.Chat's posting
// methods. See docs/outbox.md.
package outbox
