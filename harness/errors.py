"""User-facing errors: the CLI prints one line and exits with code 2, never a traceback."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


class HarnessError(Exception):
    """A problem with the user's input (file, folder, name, option): one clear line.

    ``path`` names the file or folder at fault; it is prefixed to the message.
    """

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


def did_you_mean(name: str, choices: Iterable[str], what: str) -> HarnessError:
    """An unknown-name error with close matches and the available names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(choices[:20]) + (" ..." if len(choices) > 20 else "")
    return HarnessError(f"unknown {what} {name!r}.{hint} Available: {shown}")
