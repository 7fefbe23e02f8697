"""Auto-reply texts: the settings' templates checked when settings load, and filled for
one customer when a reply goes out.

Variables are those of snippets (`{name}`, `{first_name}`, `{business}`, `{number}` and
the contact's own properties) plus `{next_open}`, the inbox's next opening in its own
time zone ("Monday 9:00 AM"). An automatic answer cannot ask a teammate for a missing
value, so an unknown one becomes empty and the spacing around it is tidied.
"""

from __future__ import annotations

import re
from datetime import datetime

from bridge.inbox.hours_status import clock_text, date_text, weekday_name

MAX_TEMPLATE = 1600  # one Twilio body
EXAMPLE = '"Thanks! We\'re closed now and open {next_open}."'
_BRACE = re.compile(r"[{}]")
VARIABLE = re.compile(r"\{([A-Za-z_][\w-]*)\}")  # as in snippets.py (which config cannot import)


def check_template(text: str) -> None:
    """ValueError naming the problem and showing an example (checked at settings load)."""
    if len(text) > MAX_TEMPLATE:
        raise ValueError(f"the text is {len(text)} characters; an SMS carries at most {MAX_TEMPLATE}; write e.g. {EXAMPLE}")
    stray = _BRACE.search(VARIABLE.sub("", text))
    if stray is not None:
        raise ValueError(f"a '{stray.group(0)}' is not part of a {{variable}}; write e.g. {EXAMPLE}")


def next_open_text(at: datetime, now: datetime) -> str:
    """`at` and `now` already local: "Monday 9:00 AM" within a week, "Mon Jan 4 9:00 AM" beyond.

    Always a day name, never "today"/"tomorrow": the customer may read it hours later.
    """
    days = (at.date() - now.date()).days
    day = weekday_name(at.date()) if days < 7 else date_text(at.date(), year=at.year != now.year)
    return f"{day} {clock_text(at.time())}"


def render(template: str, values: dict[str, str | None]) -> str:
    """The template with every variable filled; unknown ones become empty."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(match.group(1).lower())
        if not value:
            missing = True
            return ""
        return value

    text = VARIABLE.sub(substitute, template)
    if missing:
        text = re.sub(r"[ \t]+([,.!?;:])", r"\1", text)  # "Hi {first_name}," -> "Hi,"
        text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()
