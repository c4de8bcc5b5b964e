// Package cards is what Firebreak says about incidents, chat-neutral: the
// incident card, step cards, timeline lines, alert summaries and the step
// texts rendered from playbooks.yaml templates, in Firebreak's portable
// markup (see package bot), and the helpers that turn them into
// incidents.Effect records for the outbox.
//
// Every source of intents shares it — the chat Router (bot), alert intake
// and automation — so an alert from a webhook and one typed in chat are
// announced with the same card, and a step card reads the same whoever
// moved the incident there. Data comes from incidents (an Incident, its
// timeline) and playbooks; what it renders goes into effects that the
// outbox delivers through an adapter's bot.Chat. It imports no chat SDK
// and no bot package other than bot/actions' template data.
package cards
