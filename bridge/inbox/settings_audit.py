"""Setting changes on the audit trail (docs/compliance.md rule 16).

Business hours, auto-replies, assignment, SLA targets, approval roles, rules and the
`ADMINS`/`VIEWERS` lists live in the configuration, not in the database, so nobody's
command changes them: a restart with an edited file does. At each start the settings
that shape how customers are answered are compared with the last ones recorded; a
difference is an audit event `settings_changed` (actor `config`) with what changed,
before and after. Secrets and credentials are never part of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import date, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.models import AuditEvent
from bridge.inbox.routing import InboxRoute

ACTOR = "config"
ACTION = "settings_changed"


def _plain(value: Any) -> Any:
    """A JSON value that compares equal however the settings were read (sets sorted)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, ZoneInfo):
        return value.key
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def snapshot(inboxes: Iterable[InboxRoute], rules: Sequence[str], admins: Sequence[str], viewers: Sequence[str]) -> dict[str, Any]:
    """The audited settings: one entry per inbox, the rules (as `/sms rules` words them) and the role lists."""
    shot: dict[str, Any] = {}
    for inbox in inboxes:
        shot[f"inbox:{inbox.name}"] = _plain({
            "number": inbox.number, "messaging_service_sid": inbox.messaging_service_sid,
            "business_name": inbox.business_name, "help_text": inbox.help_text, "approval_role": inbox.approval_role,
            "chats": inbox.chats, "hours": inbox.hours, "after_hours_reply": inbox.after_hours_reply,
            "first_contact_reply": inbox.first_contact_reply, "assignment": inbox.assignment, "sla": inbox.sla,
            # Only when set: a deployment without one records no change on upgrading.
            **({"whatsapp_number": inbox.whatsapp_number} if inbox.whatsapp_number else {}),
        })
    shot["rules"] = list(rules)
    shot["admins"] = sorted(admins)
    shot["viewers"] = sorted(viewers)
    normal: dict[str, Any] = json.loads(json.dumps(shot, sort_keys=True))
    return normal


async def record_changes(session: AsyncSession, current: dict[str, Any]) -> list[str]:
    """Record `current` when it differs from the last settings recorded; the changed keys."""
    last = (
        await session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == ACTION).order_by(AuditEvent.id.desc()).limit(1)
        )
    ).scalar_one_or_none()
    before: dict[str, Any] = (last or {}).get("after") or {}
    changed = sorted(key for key in set(before) | set(current) if before.get(key) != current.get(key))
    if changed:
        audit.record(session, ACTOR, ACTION, before=before or None, after=current, changed=changed)
    return changed
