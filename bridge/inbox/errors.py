"""Errors a teammate can cause: the text says why and what to do instead."""

from __future__ import annotations


class Refused(Exception):
    """A teammate's request that cannot be done; the text says why and what to do."""
