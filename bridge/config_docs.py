"""README.md's configuration table, generated from the settings class.

Every field of `bridge.config.Settings` is one row: its environment name, its default
and its description (the docstring under the field, or `Field(description=...)`).
`python -m bridge.config_docs` (also run by `python -m bridge.commands.docs`) rewrites
the block between the `<!-- settings … -->` markers; tests/test_docs.py fails when the
README and the class differ, or when a setting has no description.
"""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bridge.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"(<!-- settings .*?-->\n).*?(<!-- /settings -->)", re.DOTALL)
_ROW = re.compile(r"^\| `([A-Z0-9_\[\]]+)` \| .*? \| (.*) \|$", re.MULTILINE)

# Read before the settings (it says where the TOML file is), so it is no field of theirs.
EXTRA_ROWS = (
    ("SMSBRIDGE_CONFIG", "smsbridge.toml", "path of the TOML file (read from the environment only)"),
)


def env_name(name: str, field: FieldInfo) -> str:
    """What an operator writes: the environment name, or `[[table]]` for the TOML-only
    lists of tables (`[[inbox]]`, `[[rule]]`…)."""
    args = typing.get_args(field.annotation)
    if typing.get_origin(field.annotation) is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return f"[[{name}]]"
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return (alias or name).upper()


def default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True) if field.default is PydanticUndefined else field.default
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def readme_meanings(text: str) -> dict[str, str]:
    """The meaning column of the table now in the README, by setting: kept for a setting
    added without a description until it gets one (the test names it)."""
    match = _BLOCK.search(text)
    return {name: meaning for name, meaning in _ROW.findall(match.group(0))} if match else {}


def rows(settings: type[Settings] = Settings, fallback: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    found = []
    for name, field in settings.model_fields.items():
        env = env_name(name, field)
        meaning = _cell(field.description or "") or (fallback or {}).get(env, "")
        found.append((env, default_text(field), meaning))
    found += [(env, f"`{default}`", meaning) for env, default, meaning in EXTRA_ROWS]
    return found


def undescribed(settings: type[Settings] = Settings) -> list[str]:
    """Settings whose description is missing from the class."""
    return [env_name(name, field) for name, field in settings.model_fields.items() if not (field.description or "").strip()]


def table(settings: type[Settings] = Settings, fallback: dict[str, str] | None = None) -> str:
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    lines += [f"| `{env}` | {default} | {meaning} |" for env, default, meaning in rows(settings, fallback)]
    return "\n".join(lines) + "\n"


def render_readme(text: str, settings: type[Settings] = Settings) -> str:
    fallback = readme_meanings(text)
    rendered, count = _BLOCK.subn(lambda m: m.group(1) + table(settings, fallback) + m.group(2), text)
    if count != 1:
        raise ValueError("README.md lacks the <!-- settings … --> … <!-- /settings --> block")
    return rendered


def main() -> int:
    README.write_text(render_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated the configuration table in {README}")
    for env in undescribed():
        print(f"  {env} has no description: write a docstring under its field in bridge/config.py", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
