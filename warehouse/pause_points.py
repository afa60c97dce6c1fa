"""Named points where a test can stop a real run, to kill it at a chosen moment.

With BAYESLINE_PAUSE_AT naming a point, the process that reaches it writes the point's name to
the file BAYESLINE_PAUSE_MARKER and then sleeps until it is killed. Without the variable (every
real run) a pause point costs one environment lookup.
"""

from __future__ import annotations

import os
import time

from deployment.settings import PAUSE_AT_ENV, PAUSE_MARKER_ENV, pause_point_requested

#: The variables' names stay importable here, beside the pause points the fault tests name.
__all__ = ["PAUSE_AT_ENV", "PAUSE_MARKER_ENV", "pause_point"]


def pause_point(name: str) -> None:
    """Pause here forever if the fault tests asked for `name`."""
    requested = pause_point_requested()
    if requested is None or requested.name != name:
        return
    marker = requested.marker
    staging = marker.with_name(f".{marker.name}.tmp")
    staging.write_text(f"{name} {os.getpid()}\n")
    staging.replace(marker)  # whole or absent: the test never reads half a line
    while True:
        time.sleep(60)
