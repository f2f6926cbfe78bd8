"""One batch's time limit in the reward process (``rewardserver.RewardServer``), kept whatever reward code
catches: a SIGALRM handler, the one thing that runs in the reward's frames that reward code cannot
intercept."""

from __future__ import annotations

from signal import ITIMER_REAL, setitimer
from typing import Callable


class BatchTooSlow(BaseException):
    """Raised in reward code when one batch has used up its time (``RewardServer.seconds``)."""


STOP_GRACE_S = 1.0  # how long reward code told to stop (BatchTooSlow) may take to unwind


class BatchClock:
    """One batch's time limit, as a SIGALRM handler. Its first ring raises BatchTooSlow where reward
    code is, to name the line; reward code can catch that (a bare ``except:``), so the ring is
    remembered (``rung``: the batch fails once the call returns) and the clock rings again after
    STOP_GRACE_S: if reward code is still running then, ``stuck`` (the reward process's own, which
    reports and ends the process) gets the message, from this handler, which nothing in reward code
    can intercept. Without ``stuck`` (in-process tests) it raises again."""

    def __init__(self, seconds: float, stuck: Callable[[str], object] | None = None):
        self.seconds, self.stuck = seconds, stuck
        self.running = self.rung = False
        self.raised: BaseException | None = None
        # set by each batch: the message ``stuck`` reports, given the line reward code caught the stop on
        self.message: Callable[[int | None], str] = lambda line: "compute_reward would not stop"

    def start(self) -> None:
        self.rung, self.raised, self.running = False, None, True
        setitimer(ITIMER_REAL, self.seconds)

    def stop(self) -> None:
        self.running = False
        setitimer(ITIMER_REAL, 0)

    def __call__(self, signum, frame):
        if not self.running:
            return  # rang as the batch ended
        if self.rung and self.stuck is not None:
            self.running = False
            self.stuck(self.message(caught_line(self.raised)))
        self.rung = True
        setitimer(ITIMER_REAL, min(STOP_GRACE_S, self.seconds))
        self.raised = BatchTooSlow()
        raise self.raised


def caught_line(exc: BaseException | None) -> int | None:
    """The line of the frame that caught ``exc`` (reward code's, for a BatchTooSlow it swallowed):
    read from the traceback's line numbers only, never its frames, which the sandbox's audit hook
    refuses while reward code is running."""
    tb = exc.__traceback__ if exc is not None else None
    return tb.tb_lineno if tb is not None else None


