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
