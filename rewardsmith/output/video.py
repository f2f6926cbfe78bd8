"""Short videos of trained policies: one deterministic episode rendered to a small animated GIF.

Rendering runs as a sandboxed job (``job["kind"] == "render"``; ``rewardsmith.sandbox.render`` is the
child's side): the child reads the policy a checkpoint carries as plain numbers (``checkpoint["policy"]``,
acted out in numpy; no pickle, no candidate code), rolls out one episode with
``render_mode="rgb_array"``, encodes the GIF in memory and sends it back as base64 (a sandboxed child cannot write files). MuJoCo renders offscreen on the CPU through OSMesa
(Debian ``libosmesa6``, ``MUJOCO_GL=osmesa``); classic-control tasks render with pygame. Where neither
works, the parent says so once per environment and goes on without videos.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

from ..errors import SandboxError
from ..host.launch import Limits, run_job
from ..sandbox.policy import NumpyPolicy, PolicyFormatError
from ..sandbox.render import MIN_FRAME_MS, UNAVAILABLE  # noqa: F401 - part of this module's API
from ..task import Task

log = logging.getLogger(__name__)

# environments found unable to render in this process: env id -> why (so a run says it once and
# does not start a doomed render job every generation)
_unavailable: dict[str, str] = {}


# --------------------------------------------------------------------------- parent side


def render_policy(task: Task, checkpoint: dict, *, seed: int = 0, max_frames: int = 200, size: int = 160,
                  on_note=None) -> bytes | None:
    """An animated GIF of ``checkpoint``'s policy playing one deterministic episode of ``task``, or None
    when this machine cannot render the environment (said once: through ``on_note``, else the log)."""
    video = render_episode(task, checkpoint, seed=seed, max_frames=max_frames, size=size, on_note=on_note)
    return video["gif"] if video else None


def render_episode(task: Task, checkpoint: dict, *, seed: int = 0, max_frames: int = 200, size: int = 160,
                   on_note=None, wall_seconds: float = 300.0) -> dict | None:
    """Like ``render_policy`` but with the episode's facts: {"gif": bytes, "frames", "steps", "fitness",
    "terminated", "width", "height"}."""
    if task.env_id in _unavailable:
        return None
    try:
        NumpyPolicy(checkpoint.get("policy") if isinstance(checkpoint, dict) else None)
    except PolicyFormatError as exc:
        _say(f"no video for {task.name}: the checkpoint holds no usable policy ({exc})", on_note)
        return None
    job = {"kind": "render", "task_path": str(task.path), "checkpoint": checkpoint, "seed": int(seed),
           "max_frames": int(max_frames), "size": int(size)}
    try:
        result = run_job(job, Limits(wall_seconds=wall_seconds, memory_mb=4096))
    except SandboxError as exc:
        if exc.kind == UNAVAILABLE:
            _unavailable[task.env_id] = str(exc)
            _say(f"video rendering unavailable: {exc}", on_note)
        else:
            _say(f"video rendering failed for {task.name}: {exc}", on_note)
        return None
    result["gif"] = base64.b64decode(result["gif"])
    return result


def write_generation_video(store, task: Task, candidate_id: str, generation: int, *, seed: int | None = None,
                           on_note=None, max_frames: int = 200, size: int = 160) -> Path | None:
    """Renders a candidate's policy from its stored checkpoint into ``<run>/videos/gen<g>-<id>.gif``;
    gives the path, or None when there is no checkpoint or rendering is unavailable (said once)."""
    from ..archive.store import write_atomic

    candidate = store.candidate(candidate_id)
    seeds = [seed] if seed is not None else list(candidate.seeds or []) or [store.config.get("seed", 0)]
    path = next((p for s in seeds if (p := store.checkpoint_path(candidate_id, s)).is_file()), None)
    if path is None:
        _say(f"no video for {candidate_id}: no checkpoint in {store.root / 'checkpoints'}", on_note)
        return None
    checkpoint = json.loads(path.read_text())
    used_seed = int(path.stem.rsplit("-seed", 1)[1])
    video = render_episode(task, checkpoint, seed=used_seed, max_frames=max_frames, size=size, on_note=on_note)
    if video is None:
        if task.env_id in _unavailable and not store.events("video_unavailable"):
            store.event("video_unavailable", {"reason": _unavailable[task.env_id]})
        return None
    out = store.root / "videos" / f"gen{generation}-{candidate_id}.gif"
    write_atomic(out, video["gif"])
    store.event("video", {"generation": generation, "candidate": candidate_id, "seed": used_seed,
                          "path": str(out.relative_to(store.root)),
                          **{k: video[k] for k in ("frames", "steps", "fitness", "terminated")}})
    return out


def _say(message: str, on_note) -> None:
    if on_note is not None:
        on_note(message)
    else:
        log.warning(message)
