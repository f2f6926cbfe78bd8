"""Short videos of trained policies: one deterministic episode rendered to a small animated GIF.

Rendering runs as a sandboxed job (``job["kind"] == "render"``, ``render_job`` is the child's side):
the child loads a checkpoint ({"model": base64 SB3 zip, "vecnormalize": base64 pickle or None}),
rolls out one episode with ``render_mode="rgb_array"``, encodes the GIF in memory and sends it back
as base64 (a sandboxed child cannot write files). MuJoCo renders offscreen on the CPU through OSMesa
(Debian ``libosmesa6``, ``MUJOCO_GL=osmesa``); classic-control tasks render with pygame. Where neither
works, the parent says so once per environment and goes on without videos.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from pathlib import Path

from .errors import SandboxError
from .sandbox import Limits, run_job
from .task import Task

log = logging.getLogger(__name__)

UNAVAILABLE = "render-unavailable"  # the SandboxError kind of an environment that cannot render here
MIN_FRAME_MS = 20                   # browsers play GIF frames shorter than this at 100 ms
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
    from .store import write_atomic

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


# --------------------------------------------------------------------------- child side


def _make_render_env(task: Task, size: int):
    """The task's environment rendering rgb arrays, asked for ``size``-pixel frames where it takes
    width/height (MuJoCo); otherwise frames are downscaled afterwards."""
    from .errors import TaskError

    if "width" not in task.env_kwargs and "height" not in task.env_kwargs:
        sized = Task(**{**task.__dict__, "env_kwargs": {**task.env_kwargs, "width": size, "height": size}})
        try:
            return sized.make_env(render_mode="rgb_array")
        except TaskError as exc:  # the environment takes no width/height: downscale instead
            if not isinstance(exc.__cause__, TypeError):
                raise
    return task.make_env(render_mode="rgb_array")


def render_job(job: dict, emit) -> dict:
    """Child side: one deterministic episode, every ``stride``-th frame, as a base64 GIF."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic control) without a display
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa's software rasterizer: one core, like training
    import pickle

    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO

    from .task import load_task_file
    from .wrapper import RewardWrapper

    task = load_task_file(job["task_path"])
    size, max_frames, seed = int(job["size"]), max(2, int(job["max_frames"])), int(job["seed"])
    checkpoint = job["checkpoint"]
    emit({"event": "phase", "phase": "loading the policy"})
    model = PPO.load(io.BytesIO(base64.b64decode(checkpoint["model"])), device="cpu")
    stats = pickle.loads(base64.b64decode(checkpoint["vecnormalize"])) if checkpoint.get("vecnormalize") else None

    emit({"event": "phase", "phase": "making the environment"})
    try:
        env = RewardWrapper(_make_render_env(task, size), task)
        obs, _ = env.reset(seed=10_000 + seed * 100)  # the first evaluation episode's start
        _fast_mujoco(env)
        first = env.render()
    except Exception as exc:  # noqa: BLE001 - missing pygame, no OSMesa, GL errors: all mean "cannot render"
        raise SandboxError(_why_unavailable(task, exc), kind=UNAVAILABLE) from exc
    if first is None:
        raise SandboxError(f"{task.env_id} rendered no rgb_array frame", kind=UNAVAILABLE)

    emit({"event": "phase", "phase": "rendering an episode"})
    frames, stride, step, done = [_thumbnail(first, size)], 1, 0, False
    try:
        while not done:
            action, _ = model.predict(stats.normalize_obs(obs) if stats is not None else obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            step += 1
            if step % stride == 0 or done:
                frames.append(_thumbnail(env.render(), size))
                if len(frames) > max_frames:  # keep every other frame and halve the rate from here on
                    frames, stride = frames[::2], stride * 2
        summary = env.pop_stats()["episodes"][-1]
    finally:
        env.close()

    fps = float(env.metadata.get("render_fps") or 30)
    buffer = io.BytesIO()
    frames = [f.quantize(colors=128) for f in frames]  # per-frame palettes: small files, true colours
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=max(MIN_FRAME_MS, round(1000 * stride / fps)), disposal=1)
    return {"gif": base64.b64encode(buffer.getvalue()).decode(), "frames": len(frames), "steps": step,
            "fitness": float(summary["fitness"]), "terminated": bool(summary["terminated"]),
            "width": frames[0].width, "height": frames[0].height}


def _fast_mujoco(env) -> None:
    """Turns off MuJoCo's reflections and shadows: on a CPU they make a frame ten times slower and a
    small video no clearer. Other environments are left alone."""
    renderer = getattr(env.unwrapped, "mujoco_renderer", None)
    if renderer is None:
        return
    import mujoco

    try:
        scene = renderer._get_viewer("rgb_array").scn  # gymnasium has no public handle on the scene
    except (AttributeError, TypeError):
        return
    for flag in (mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SHADOW):
        scene.flags[flag] = 0


def _thumbnail(frame, size: int):
    """An RGB frame as a PIL image at most ``size`` pixels on its longer side."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    image.thumbnail((size, size), reducing_gap=2.0)
    return image


def _why_unavailable(task: Task, exc: Exception) -> str:
    while exc.__cause__ is not None:  # the root cause says it best (not the TaskError around it)
        exc = exc.__cause__
    text = f"{type(exc).__name__}: {exc}".strip()
    if "pygame" in text:
        hint = "classic-control rendering needs pygame (pip install 'gymnasium[classic-control]')"
    elif any(s in text.lower() for s in ("osmesa", "mujoco_gl", "opengl", "gl ", "egl", "glfw")):
        hint = ("MuJoCo renders offscreen with OSMesa: install libosmesa6 (Debian/Ubuntu) and set "
                "MUJOCO_GL=osmesa")
    else:
        hint = "the environment could not render rgb_array frames"
    return f"{task.env_id}: {hint} ({text.splitlines()[-1][:300] if text else type(exc).__name__})"
