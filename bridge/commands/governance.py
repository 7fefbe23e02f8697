"""`/sms erase NUMBER`: an admin erases a contact (compliance rule 9), after a confirm button."""

from __future__ import annotations

from bridge.commands.arguments import PhoneNumber
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, command
from bridge.commands.replies import Button, CommandReply, ThreadOutcome
from bridge.inbox.erasure import number_key
from bridge.inbox.erasure_text import question, unknown
from bridge.inbox.markup import rich
from bridge.inbox.phone import format_phone

ERASE_ACTION = "erase_contact"
ERASE_CANCEL = "erase_cancel"


@command("erase", args=(PhoneNumber("number", "The contact's number"),), role="admin", where=Where.CHANNEL,
         doing="Erasing a contact",
         help="erases a contact: messages, notes, files, profile and smsbridge's chat posts (asks to confirm); an opt-out stays, hashed")
async def erase(ctx: CommandContext, number: str) -> CommandReply:
    key = number_key(number)
    shown = format_phone(key)
    found = await ctx.service.erasure.preview(ctx.session, key)
    if found is None:
        return CommandReply(unknown(shown), ok=False, outcome=ThreadOutcome.REFUSED)
    contact, counts = found
    if contact is None:
        return CommandReply(
            rich(
                "No contact has {number}; only its consent records remain. `smsbridge contacts erase {key}` files them under a hash.",
                number=shown, key=key,
            ),
            ok=False,
            outcome=ThreadOutcome.REFUSED,
        )
    value = str(contact.id)
    buttons = (Button("Erase", ERASE_ACTION, value, "danger"), Button("Cancel", ERASE_CANCEL, value))
    return CommandReply(question(shown, contact.name, counts), buttons=buttons)
