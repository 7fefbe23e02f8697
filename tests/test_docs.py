"""The repository explains itself: docs/compliance.md cites tests that exist, and nothing
points a reader at notes that are not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED_TEST = re.compile(r"`(test_\w+\.py)::(test_\w+)`")
OUTSIDE_NOTES = re.compile(r"\b(DESIGN|COMPLIANCE|PLATFORMS)\.md\b")


def test_every_test_cited_for_a_compliance_rule_exists() -> None:
    cited = CITED_TEST.findall((ROOT / "docs" / "compliance.md").read_text(encoding="utf-8"))
    assert len(cited) >= 30, "docs/compliance.md should cite the tests that prove each rule"
    missing = [
        f"{file}::{name}"
        for file, name in cited
        if not re.search(rf"^(async )?def {name}\(", (ROOT / "tests" / file).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert missing == [], f"docs/compliance.md cites tests that do not exist: {missing}"


def test_no_file_cites_notes_outside_the_repository() -> None:
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("manifests/*")]
    for folder in ("bridge", "tests", "bench"):
        files += (ROOT / folder).rglob("*.py")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE_NOTES.search(line)
    ]
    assert offenders == [], f"cite docs/architecture.md or docs/compliance.md instead: {offenders}"


def test_the_configuration_table_is_the_settings_class() -> None:
    from bridge import config_docs

    current = (ROOT / "README.md").read_text(encoding="utf-8")
    assert current == config_docs.render_readme(current), "README.md's configuration table is stale: python -m bridge.config_docs"
    assert config_docs.undescribed() == [], "write a docstring under each of these settings in bridge/config.py"
    table = current.split("<!-- settings ", 1)[1].split("<!-- /settings -->", 1)[0]
    for line in ("| `UNDO_SECONDS` | `5` | a reply waits this long with an Undo button (0 = off) |",
                 "| `DATABASE_URL` | `sqlite+aiosqlite:///smsbridge.db` |", "| `[[inbox]]` | — |", "| `SMSBRIDGE_CONFIG` | `smsbridge.toml` |"):
        assert line in table


def test_a_new_setting_reaches_the_table_from_its_description() -> None:
    """What an engineer adding a setting does: a field with a docstring or a
    Field(description=...); the generator needs nothing else."""
    from pydantic import Field

    from bridge import config_docs
    from bridge.config import Settings

    class Newer(Settings):
        smsbridge_retention_days: int | None = None
        """conversations closed this many days ago are erased; unset: kept"""
        smsbridge_no_bodies: bool = Field(default=False, description="store no message text")
        smsbridge_undocumented: str = "x"

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = config_docs.render_readme(readme, Newer)
    assert "| `SMSBRIDGE_RETENTION_DAYS` | — | conversations closed this many days ago are erased; unset: kept |" in table
    assert "| `SMSBRIDGE_NO_BODIES` | `false` | store no message text |" in table
    assert "| `SMSBRIDGE_UNDOCUMENTED` | `x` |  |" in table
    assert config_docs.undescribed(Newer) == ["SMSBRIDGE_UNDOCUMENTED"]
    # A row someone wrote by hand in the README is kept until the class describes it.
    hand = table.replace("| `SMSBRIDGE_UNDOCUMENTED` | `x` |  |", "| `SMSBRIDGE_UNDOCUMENTED` | `x` | written by hand |")
    assert "| `SMSBRIDGE_UNDOCUMENTED` | `x` | written by hand |" in config_docs.render_readme(hand, Newer)


def _check_messages() -> list[tuple[str, str]]:
    """Every message `smsbridge check` can print that is not a ✓, as (file, title) with
    `{…}` where the title has a value."""
    import ast

    found = []
    for path in (ROOT / "bridge" / "checks.py", ROOT / "bridge" / "checks_sync.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding" and len(node.args) >= 2):
                continue
            level, title = node.args[0], node.args[1]
            if isinstance(level, ast.Constant) and level.value == "ok":
                continue
            if isinstance(title, ast.Constant):
                found.append((path.name, str(title.value)))
            elif isinstance(title, ast.JoinedStr):
                found.append((path.name, "".join(str(v.value) if isinstance(v, ast.Constant) else "{…}" for v in title.values)))
    return found


def test_troubleshooting_lists_every_message_check_prints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    messages = _check_messages()
    assert len(messages) >= 40
    missing = []
    for file, title in messages:
        words = max((part.strip() for part in title.split("{…}")), key=len)
        if len(words) >= 4 and words not in section:
            missing.append(f"{file}: {title}")
    assert missing == [], f"README → Troubleshooting does not explain these `smsbridge check` messages: {missing}"
    for problem in ("dispatch_failed", "11200", "30007", "21610", "database is locked", "MESSAGE_CONTENT", "PUBLIC_URL", "smsbridge migrate"):
        assert problem in section
