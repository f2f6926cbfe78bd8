"""Rollout videos rendered on demand for the page (``POST /api/video``): a run made without ``--videos every``
has a video of each generation's best only, so the compare view's pair often lacks one for a side.

A request names a candidate; the video is made by ``output.video.write_generation_video``, the very function
the loop uses after a generation, so it is made the same way: the policy from the candidate's checkpoint
acted out in the sandboxed render job from the run's common start, encoded here, and each reward
component's per-frame value replayed in the sandboxed reward process (candidate code runs nowhere else).

One render at a time, in a background thread of the serving process (a render is a sandboxed child process
the thread waits on); a candidate already queued or rendering is not queued twice; one already with a video
is answered at once. Every change of a request's state bumps ``version``, which the page's event stream
watches and pushes (``event: video``). A failure is kept as its message (made printable), never a traceback.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from pathlib import Path
from typing import Callable

from ...untrusted import printable

CANDIDATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
QUEUED, RENDERING, READY, FAILED = "queued", "rendering", "ready", "failed"

# (store, task, candidate id, generation, on_note) -> the video's path, or None (why said through on_note)
Render = Callable[..., "Path | None"]


class Refused(Exception):
    """A request the renderer will not take: ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def checkpoint(store, candidate) -> Path | None:
    """The candidate's policy checkpoint in the run's own ``checkpoints/`` folder (of its first seed that has
    one, as ``write_generation_video`` looks), or None; a file that resolves outside that folder (a
    symbolic link out of the run) does not count."""
    folder = (store.root / "checkpoints").resolve()
    seeds = list(candidate.seeds or []) or [store.config.get("seed", 0)]
    for seed in seeds:
        path = store.checkpoint_path(candidate.id, seed)
        if path.is_file() and path.resolve().parent == folder:
            return path
    return None


def _write(store, task, cid: str, generation: int, on_note) -> Path | None:
    from ...output.video import write_generation_video

    return write_generation_video(store, task, cid, generation, on_note=on_note)


class Renderer:
    """The serving process's queue of videos to render for the page (``run_dir``'s candidates)."""

    def __init__(self, run_dir: Path, render: Render | None = None):
        self.root = Path(run_dir)
        self._render = render or _write
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._status: dict[str, dict] = {}
        self._closing = False
        self._thread: threading.Thread | None = None
        self._requests = 0  # requests queued so far: each status carries its request's number
        self.version = 0

    def request(self, store, cid: str) -> dict:
        """Queues a render of ``cid``'s video unless it has one or is queued; gives its status:
        {"candidate", "state" (queued, rendering, ready, failed), "video" (when ready), "error" (when
        failed), "position" (when queued: how many renders are ahead), "request" (the request's number,
        which a later request of the same candidate exceeds; none when it was ready at once)}. Refused for
        an id that is not a candidate of this run or one with no checkpoint to render from."""
        from ...errors import RunStoreError
        from ...output.video import existing_video

        if not CANDIDATE_ID.fullmatch(cid):
            raise Refused(404, f"no candidate {printable(cid, one_line=True)[:80]!r} in this run")
        try:
            candidate = store.candidate(cid)
        except RunStoreError:
            raise Refused(404, f"no candidate {cid!r} in this run") from None
        with self._cond:
            current = self._status.get(cid)
            if current is not None and current["state"] in (QUEUED, RENDERING):
                return self._view(cid)
        done = existing_video(store, candidate.generation, cid)
        if done is not None:
            return {"candidate": cid, "state": READY, "video": done.name}
        if checkpoint(store, candidate) is None:
            raise Refused(409, f"{cid} has no policy checkpoint in this run's checkpoints/ folder "
                               f"(status {candidate.status}: never trained, or its run kept none), so no video can "
                               f"be rendered for it")
        with self._cond:
            if self._closing:
                raise Refused(503, "the page is closing")
            current = self._status.get(cid)
            if current is None or current["state"] not in (QUEUED, RENDERING):
                self._requests += 1
                self._status[cid] = {"candidate": cid, "request": self._requests, "state": QUEUED,
                                     "generation": candidate.generation}
                self._queue.append(cid)
                self._changed()
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name="rewardsmith-videos", daemon=True)
                    self._thread.start()
            return self._view(cid)

    def statuses(self) -> dict[str, dict]:
        """Every request's status so far, by candidate (what ``request`` gives for each)."""
        with self._cond:
            return {cid: self._view(cid) for cid in self._status}

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until nothing is queued or rendering (tests, benchmarks); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not any(s["state"] in (QUEUED, RENDERING)
                                                        for s in self._status.values()), timeout)

    def close(self) -> None:
        """Stops taking requests; a render under way finishes in its thread (its job has a wall limit)."""
        with self._cond:
            self._closing = True
            self._queue.clear()
            for status in self._status.values():
                if status["state"] == QUEUED:
                    status.update(state=FAILED, error="the page closed before it was rendered")
            self._changed()

    # ------------------------------------------------------------------ the worker

    def _view(self, cid: str) -> dict:
        status = dict(self._status[cid])
        status.pop("generation", None)
        if status["state"] == QUEUED:
            status["position"] = self._queue.index(cid) if cid in self._queue else 0
        return status

    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if self._closing:
                    return
                cid = self._queue.popleft()
                self._status[cid]["state"] = RENDERING
                generation = self._status[cid]["generation"]
                self._changed()
            try:
                result = self._one(cid, generation)
            except Exception as exc:  # noqa: BLE001 - a failed render is shown on the page, never raised
                result = {"state": FAILED, "error": printable(f"{type(exc).__name__}: {exc}", one_line=True)[:500]}
            with self._cond:
                self._status[cid] = {**self._status[cid], **result}
                self._changed()

    def _one(self, cid: str, generation: int) -> dict:
        from ...archive.store import RunStore
        from ...task import load_task_file

        notes: list[str] = []
        store = RunStore(self.root)  # this thread's own connection
        try:
            path = self._render(store, load_task_file(store.root / "task.py"), cid, generation, notes.append)
            # rendering found unavailable is said once per process; the run store keeps why
            unavailable = [e.get("reason") for e in store.events("video_unavailable")] if path is None else []
        finally:
            store.close()
        if path is None:
            why = "; ".join(notes) or (f"video rendering unavailable: {unavailable[-1]}" if unavailable
                                       else "the render gave no video")
            return {"state": FAILED, "error": printable(why, one_line=True)[:500]}
        return {"state": READY, "video": path.name}
