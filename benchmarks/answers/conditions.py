"""When and where a benchmark ran: the figures mean little without the machine's load."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from typing import Any


def conditions(load_before: tuple[float, ...]) -> dict[str, Any]:
    """The date, the machine, its load before the run and now, and `uptime`'s line."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
