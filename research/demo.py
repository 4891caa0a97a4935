"""`make demo`: generate a synthetic market into a fresh temporary lake and show what landed.

Runs the real CLI commands a user would type, each in its own process, so the demo is
also a smoke test of the front door.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from research.output import console

STEPS = [
    "generate --days 1 --tokens 8 --seed 7 --lake {lake}",
    "lake info --lake {lake}",
    "lake check --lake {lake}",
]


def main() -> int:
    lake = Path(tempfile.mkdtemp(prefix="shoal-demo-")) / "lake"
    for step in STEPS:
        args = shlex.split(step.format(lake=lake))
        console.rule(f"[bold]$ shoal {' '.join(args)}")
        status = subprocess.run([sys.executable, "-m", "research.cli", *args], check=False).returncode
        if status != 0:
            console.print(f"[bold red]step failed with exit status {status}[/]")
            return status
    console.rule()
    console.print(f"demo lake kept at {lake} (delete it when done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
