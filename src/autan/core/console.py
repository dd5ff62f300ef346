"""The console every command writes its messages to: standard error, one line each."""

from __future__ import annotations

from rich.console import Console

# Soft wrap: Rich would otherwise cut messages at 80 columns whenever its output is not a
# terminal (a pipe, a log, a test), and a path or address cut in two cannot be copied.
err = Console(stderr=True, soft_wrap=True)
