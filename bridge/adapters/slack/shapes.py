"""The shape of a signed Slack request, checked before bolt and our listeners read it.

Bolt and the listeners index into the body (`body["user"]["id"]`, `int(action["value"])`);
a list where a string belongs, or an id longer than its column, would otherwise become a
500 with a traceback. Each check names the first field that is wrong.
"""

from __future__ import annotations

import re
from typing import Any

ID_MAX = 100  # user, channel and thread ids are stored in VARCHAR(100) columns
TEXT_MAX = 40_000  # Slack's own limit on a message's text
VALUE_MAX = 2_000  # a button's value (Slack allows 2,000 characters)
_ROW_ID = re.compile(r"[0-9]{1,10}")
MAX_ROW_ID = 2**31 - 1

# Fields of an event that listeners or bolt read, and how long they may be.
_EVENT_STRINGS = {
    "type": ID_MAX, "subtype": ID_MAX, "user": ID_MAX, "channel": ID_MAX, "ts": ID_MAX, "thread_ts": ID_MAX,
    "event_ts": ID_MAX, "bot_id": ID_MAX, "app_id": ID_MAX, "channel_type": ID_MAX, "team": ID_MAX,
    "user_team": ID_MAX, "source_team": ID_MAX, "text": TEXT_MAX,
}
_ENVELOPE_STRINGS = {
    "type": ID_MAX, "team_id": ID_MAX, "api_app_id": ID_MAX, "enterprise_id": ID_MAX, "event_id": ID_MAX,
    "context_team_id": ID_MAX, "context_enterprise_id": ID_MAX, "challenge": 1_000, "token": ID_MAX,
}
_COMMAND_REQUIRED = ("command", "user_id", "channel_id", "team_id")
_COMMAND_IDS = ("command", "user_id", "channel_id", "team_id", "enterprise_id", "api_app_id", "user_name", "trigger_id")


def _string_problem(data: dict[str, Any], limits: dict[str, int], where: str) -> str | None:
    for name, limit in limits.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"{where}{name} is not a string"
        if len(value) > limit:
            return f"{where}{name} is longer than {limit} characters"
    return None


def _object_problem(data: dict[str, Any], names: tuple[str, ...], where: str) -> str | None:
    """Each named field, when present, is an object whose `id`/`team_id` are short strings."""
    for name in names:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            return f"{where}{name} is not an object"
        problem = _string_problem(value, {"id": ID_MAX, "team_id": ID_MAX, "enterprise_id": ID_MAX}, f"{where}{name}.")
        if problem:
            return problem
    return None


def _row_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ROW_ID.fullmatch(value)) and int(value) <= MAX_ROW_ID


def _event_problem(body: dict[str, Any]) -> str | None:
    problem = _string_problem(body, _ENVELOPE_STRINGS, "")
    if problem or body.get("type") != "event_callback":
        return problem
    event = body.get("event")
    if not isinstance(event, dict):
        return "event is not an object"
    problem = _string_problem(event, _EVENT_STRINGS, "event.")
    if problem:
        return problem
    for name in ("message", "previous_message", "item", "assistant_thread"):
        nested = event.get(name)
        if nested is not None and not isinstance(nested, dict):
            return f"event.{name} is not an object"
        if isinstance(nested, dict):
            problem = _string_problem(nested, _EVENT_STRINGS, f"event.{name}.")
            if problem:
                return problem
    authorizations = body.get("authorizations")
    if authorizations is not None and not (
        isinstance(authorizations, list) and all(isinstance(a, dict) for a in authorizations)
    ):
        return "authorizations is not a list of objects"
    for i, item in enumerate(authorizations or []):
        problem = _string_problem(item, {"team_id": ID_MAX, "enterprise_id": ID_MAX, "user_id": ID_MAX}, f"authorizations[{i}].")
        if problem:
            return problem
    return None


def _command_problem(form: dict[str, Any]) -> str | None:
    for name in _COMMAND_REQUIRED:
        if not form.get(name):
            return f"missing {name}"
    problem = _string_problem(form, {name: ID_MAX for name in _COMMAND_IDS}, "")
    return problem or _string_problem(form, {"text": TEXT_MAX, "response_url": VALUE_MAX}, "")


def _action_problem(i: int, action: Any) -> str | None:
    where = f"actions[{i}]."
    if not isinstance(action, dict):
        return f"actions[{i}] is not an object"
    limits = {"action_id": 255, "block_id": 255, "value": VALUE_MAX, "selected_user": ID_MAX, "type": ID_MAX, "action_ts": ID_MAX}
    problem = _string_problem(action, limits, where)
    if problem:
        return problem
    action_id = action.get("action_id")
    if not isinstance(action_id, str):
        return f"{where}action_id is missing"
    if not action_id.startswith("smsbridge."):
        return None
    # Our own buttons carry row ids; anything else is not a button we drew.
    option = action.get("selected_option")
    if action_id == "smsbridge.snippet":
        if not isinstance(option, dict) or not isinstance(option.get("value"), str) or len(option["value"]) > VALUE_MAX:
            return f"{where}selected_option is not a menu choice"
        if not _row_id(option["value"].partition(":")[0]):
            return f"{where}selected_option.value is not a conversation id"
    elif action_id == "smsbridge.assign":
        if not isinstance(action.get("selected_user"), str) or not action["selected_user"]:
            return f"{where}selected_user is missing"
        block = action.get("block_id") or ""
        if block.startswith("card:") and not _row_id(block.removeprefix("card:")):
            return f"{where}block_id is not a card id"
    elif not _row_id(action.get("value")):
        return f"{where}value is not an id"
    return None


def _view_problem(view: Any) -> str | None:
    if not isinstance(view, dict):
        return "view is not an object"
    if not isinstance(view.get("type"), str):
        return "view.type is missing"
    problem = _string_problem(view, {"callback_id": 255, "private_metadata": 3_000, "id": ID_MAX, "team_id": ID_MAX, "app_installed_team_id": ID_MAX}, "view.")
    if problem or view.get("callback_id") != "smsbridge.edit_draft":
        return problem
    if not _row_id(view.get("private_metadata")):
        return "view.private_metadata is not a message id"
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    draft = values.get("draft") if isinstance(values, dict) else None
    field = draft.get("text") if isinstance(draft, dict) else None
    if not isinstance(field, dict) or "value" not in field or not (field["value"] is None or isinstance(field["value"], str)):
        return "view.state.values.draft.text is not a text input"
    if len(field.get("value") or "") > TEXT_MAX:
        return "view.state.values.draft.text is too long"
    return None


def _interaction_problem(payload: dict[str, Any]) -> str | None:
    problem = _string_problem(payload, {"type": ID_MAX, "api_app_id": ID_MAX, "trigger_id": ID_MAX, "response_url": VALUE_MAX, "token": ID_MAX}, "")
    problem = problem or _object_problem(payload, ("user", "team", "enterprise", "channel"), "")
    if problem:
        return problem
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
        return "user.id is missing"
    for name in ("container", "message", "state"):
        if payload.get(name) is not None and not isinstance(payload[name], dict):
            return f"{name} is not an object"
    if payload.get("type") == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions is not a list of actions"
        for i, action in enumerate(actions):
            problem = _action_problem(i, action)
            if problem:
                return problem
    if payload.get("type") in ("view_submission", "view_closed") or payload.get("view") is not None:
        return _view_problem(payload.get("view"))
    return None


def shape_problem(kind: str, body: dict[str, Any]) -> str | None:
    """What is wrong with a parsed Slack request, or None when listeners can read it."""
    for name in ("event", "view", "message", "container", "state", "enterprise", "team"):
        # Bolt's own middleware reads these as objects whatever the request's kind.
        if name in body and not isinstance(body[name], (dict, str) if name == "team" else dict):
            return f"{name} is not an object"
    if kind == "event":
        return _event_problem(body)
    if kind == "command":
        return _command_problem(body)
    return _interaction_problem(body)
