"""Who this process is, and whether another process on the same machine still lives.

An instance id is `<machine>:<pid>:<random>`. The machine part names the host and the
kernel's pid namespace, so two containers that share a hostname never mistake each
other's processes for their own. When a holder of a lease or of outbox jobs ran on
this machine, `os.kill(pid, 0)` says at once whether it died; otherwise (another host)
only its missing heartbeats can tell.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import uuid


@functools.cache
def machine_id() -> str:
    """Host name plus a digest of the boot id and the pid namespace (Linux), if known."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            with open(path) as handle:
                parts.append(handle.read().strip())
        except OSError:
            pass
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    return f"{socket.gethostname()[:120]}/{digest}"


def new_instance_id() -> str:
    return f"{machine_id()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def parse_instance_id(instance: str) -> tuple[str, int] | None:
    """(machine, pid) of an id made by `new_instance_id`, None for any other text."""
    parts = instance.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    machine, pid = parts[0], int(parts[1])
    return machine, pid


def died_here(machine: str, pid: int) -> bool:
    """True only when `pid` ran on this machine and no such process exists any more."""
    if machine != machine_id() or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
