"""An inbox's automatic assignment settings, as routing carries them (assignment.py acts on them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Strategy(StrEnum):
    NONE = "none"
    ROUND_ROBIN = "round-robin"
    LEAST_BUSY = "least-busy"


@dataclass(frozen=True)
class AssignPolicy:
    """An inbox's assignment settings (SMSBRIDGE_ASSIGN, SMSBRIDGE_AGENTS, SMSBRIDGE_MAX_OPEN)."""

    strategy: Strategy = Strategy.NONE
    agents: tuple[str, ...] = ()  # "slack:U1", "discord:2" or a bare id; empty: every agent and admin
    max_open: int | None = None
