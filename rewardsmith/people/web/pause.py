"""An ``--interactive`` pause answered on the terminal or on the run's page, whichever comes first.

The loop's process marks the run as waiting (run store meta ``waiting``: the generation and since when);
the page shows Continue and Stop and records the person's choice (meta ``decision``, through the page's
JSON POST); this side reads the terminal a line at a time with ``select`` (so it never blocks on it) and
looks at the store between reads. A pause may have a timeout after which the run continues by itself.
Where standard input cannot be watched (not a file descriptor), only the page and the timeout can end it.
"""

from __future__ import annotations

import select
import sys
import time

POLL_SECONDS = 0.25
CHOICES = ("c", "f", "e", "s")


def wait_for_choice(store, generation: int, prompt: str, timeout: float | None = None, stdin=None,
                    echo=print) -> str:
    """One of "c" (continue), "f" (feedback), "e" (edit) or "s" (stop): typed on the terminal (an empty
    line is "c"), or "c"/"s" chosen on the page for this ``generation``, or "c" after ``timeout`` seconds."""
    stdin = sys.stdin if stdin is None else stdin
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    deadline = None if timeout is None else time.monotonic() + timeout
    store.set_meta("decision", None)
    store.set_meta("waiting", {"generation": generation, "since": time.time(), "timeout": timeout})
    try:
        echo(prompt + (f" (continues by itself in {timeout:g} s)" if timeout is not None else ""))
        while True:
            decision = store.meta("decision")
            if isinstance(decision, dict) and decision.get("generation") == generation:
                echo(f"{'continue' if decision['action'] == 'continue' else 'stop'}, as chosen on the page")
                return "c" if decision["action"] == "continue" else "s"
            if deadline is not None and time.monotonic() >= deadline:
                echo(f"no answer in {timeout:g} s: continuing")
                return "c"
            if fd is None:
                time.sleep(POLL_SECONDS)
                continue
            ready, _, _ = select.select([fd], [], [], POLL_SECONDS)
            if not ready:
                continue
            line = stdin.readline()
            if line == "":  # end of input: nobody will type; only the page or the timeout can answer
                fd = None
                continue
            choice = line.strip().lower() or "c"
            if choice in CHOICES:
                return choice
            echo(f"{choice!r}? {prompt}")
    finally:
        store.set_meta("waiting", None)
