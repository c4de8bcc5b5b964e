package discord

import (
	"net/url"
	"strconv"

	"github.com/bwmarrin/discordgo"
)

// Permissions is the permissions integer Firebreak's bot needs in the
// channels it serves: read them (View Channels, Read Message History), post
// and edit its messages with embeds, buttons and the postmortem file (Send
// Messages, Embed Links, Attach Files), run incident threads (Create Public
// Threads, Send Messages in Threads), react, and answer /incident (Use
// Application Commands). It is 311385246784.
const Permissions int64 = discordgo.PermissionViewChannel |
	discordgo.PermissionSendMessages |
	discordgo.PermissionSendMessagesInThreads |
	discordgo.PermissionCreatePublicThreads |
	discordgo.PermissionEmbedLinks |
	discordgo.PermissionAttachFiles |
	discordgo.PermissionReadMessageHistory |
	discordgo.PermissionAddReactions |
	discordgo.PermissionUseApplicationCommands

// Intents are the gateway intents the adapter asks for: guilds and their
// channels, guild messages and reactions, and the privileged Message
// Content intent, without which alert messages arrive with empty text and
// no embeds.
const Intents = discordgo.IntentsGuilds |
	discordgo.IntentsGuildMessages |
	discordgo.IntentsGuildMessageReactions |
	discordgo.IntentsMessageContent

// InviteURL is the link a server admin opens to add the bot to a server
// with the slash command and the permissions it needs.
func InviteURL(appID string) string {
	q := url.Values{}
	q.Set("client_id", appID)
	q.Set("scope", "bot applications.commands")
	q.Set("permissions", strconv.FormatInt(Permissions, 10))
	return "https://discord.com/oauth2/authorize?" + q.Encode()
}
