"""Is the process that ran a pipeline still there? Plain functions over /proc and signals.

A process is named by its host, its pid and its start time: the pid alone is not enough,
because the kernel hands a dead process's pid to the next process that starts.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: How far two readings of one process's start time may differ (clock ticks, rounding).
START_TIME_TOLERANCE_S = 1.0

ProcessState = Literal["alive", "gone", "elsewhere", "unknown"]


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started_at: float | None  # seconds since the epoch; None when it cannot be read


def this_host() -> str:
    return socket.gethostname()


def current_process() -> ProcessIdentity:
    return ProcessIdentity(this_host(), os.getpid(), process_start_time(os.getpid()))


def process_start_time(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), from /proc; None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot_time = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished; only its exit status is left
        return None
    return boot_time + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def process_state(
    host: str | None, pid: int | None, started_at: float | None, *, started_before: float | None
) -> ProcessState:
    """Whether the process is alive, gone, on another machine, or cannot be told.

    Args:
        host, pid: where the process ran; None when the run did not record it.
        started_at: its recorded start time, compared with the live process's.
        started_before: when only the pid is known (from a run's log), a process that started
            after this time is a newcomer that reused the pid.
    """
    if host is None or pid is None:
        return "unknown"
    if host != this_host():
        return "elsewhere"
    live_start = process_start_time(pid)
    if live_start is None:
        if Path("/proc/self/stat").exists():
            return "gone"  # /proc works here, and has no live process with this pid
        return "alive" if _pid_exists(pid) else "gone"
    if started_at is not None:
        return "alive" if abs(live_start - started_at) <= START_TIME_TOLERANCE_S else "gone"
    if started_before is not None and live_start > started_before + START_TIME_TOLERANCE_S:
        return "gone"
    return "alive"
