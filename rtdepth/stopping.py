"""Stopping cleanly on a signal: one helper, one rule for every command that owns work in progress.

The rule: the first Ctrl-C or SIGTERM asks the work to stop after the unit in hand (a frame, a sample, an
export), which the holder checks for; a second one raises at once. Raising wherever the main thread happens
to be is what this avoids: inside a lock's acquire it leaves the lock held, inside torch's exporter it can
abort the process from C++. Off the main thread nothing changes (signals only reach the main thread).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rtdepth.errors import Terminated, note_signal


class StopRequests(list):
    """The signals received so far (empty: carry on); ``raise_if_any`` turns the first into the exception
    that ``run_app`` reports with the shell's exit code (130 for SIGINT, 143 for SIGTERM)."""

    @property
    def terminated(self) -> bool:
        return bool(self) and self[0] == signal.SIGTERM

    def raise_if_any(self) -> None:
        if self:
            raise Terminated if self.terminated else KeyboardInterrupt


@contextmanager
def stop_requests(on_first: Callable[[int], None] | None = None) -> Iterator[StopRequests]:
    """Record SIGINT/SIGTERM while the block runs; a second signal raises. Previous handlers are put back.
    ``on_first(signum)`` runs at the first signal, for work that is told to stop rather than polled (a server)."""
    requested = StopRequests()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum: int, _frame: object) -> None:
        note_signal(signum)
        if requested:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        requested.append(signum)
        if on_first is not None:
            on_first(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            if old is not None:  # None: a handler installed outside Python, which cannot be put back from here
                signal.signal(sig, old)
