"""Rendering one deterministic episode of a trained policy, inside a sandboxed child (``job["kind"] ==
"render"``; never loads candidate code). The child sends the frames back raw (zlib, base64) with the
episode's trajectory (fields, observations, actions: what a replay of the reward needs for its
per-frame component curves); the parent side (``rewardsmith.output.video``) encodes the video (MP4, or
GIF where that fails), since a sandboxed child can neither write files nor start an encoder.
"""

from __future__ import annotations

import base64
import os
import zlib

from ..errors import SandboxError
from ..task import Task

UNAVAILABLE = "render-unavailable"  # the SandboxError kind of an environment that cannot render here
MIN_FRAME_MS = 20                   # browsers play GIF frames shorter than this at 100 ms


def _make_render_env(task: Task, size: int):
    """The task's environment rendering rgb arrays, asked for ``size``-pixel frames where it takes
    width/height (MuJoCo); otherwise frames are downscaled afterwards."""
    from ..errors import TaskError

    if "width" not in task.env_kwargs and "height" not in task.env_kwargs:
        sized = Task(**{**task.__dict__, "env_kwargs": {**task.env_kwargs, "width": size, "height": size}})
        try:
            return sized.make_env(render_mode="rgb_array")
        except TaskError as exc:  # the environment takes no width/height: downscale instead
            if not isinstance(exc.__cause__, TypeError):
                raise
    return task.make_env(render_mode="rgb_array")


def render_job(job: dict, emit) -> dict:
    """Child side: one deterministic episode, every ``stride``-th frame, raw (``frame_steps``: the step
    each frame shows), and the episode's trajectory."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic control) without a display
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa's software rasterizer: one core, like training
    from ..task import load_task_file
    from .evaluate import evaluation_seed
    from .policy import NumpyPolicy
    from .wrapper import RewardWrapper

    task = load_task_file(job["task_path"])
    size, max_frames, seed = int(job["size"]), max(2, int(job["max_frames"])), int(job["seed"])
    emit({"event": "phase", "phase": "loading the policy"})
    policy = NumpyPolicy(job["checkpoint"].get("policy") if isinstance(job["checkpoint"], dict) else None)

    emit({"event": "phase", "phase": "making the environment"})
    try:
        env = RewardWrapper(_make_render_env(task, size), task, record_all=True)
        obs, _ = env.reset(seed=evaluation_seed(seed, 0))  # the first evaluation episode's start
        _fast_mujoco(env)
        first = env.render()
    except Exception as exc:  # noqa: BLE001 - missing pygame, no OSMesa, GL errors: all mean "cannot render"
        raise SandboxError(_why_unavailable(task, exc), kind=UNAVAILABLE) from exc
    if first is None:
        raise SandboxError(f"{task.env_id} rendered no rgb_array frame", kind=UNAVAILABLE)

    emit({"event": "phase", "phase": "rendering an episode"})
    frames, at, stride, step, done = [_thumbnail(first, size)], [0], 1, 0, False
    observations = [obs]
    try:
        while not done:
            action = policy(obs)
            obs, _, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            done = terminated or truncated
            step += 1
            if step % stride == 0 or done:
                frames.append(_thumbnail(env.render(), size))
                at.append(step)
                if len(frames) > max_frames:  # keep every other frame and halve the rate from here on
                    frames, at, stride = frames[::2], at[::2], stride * 2
        summary = env.pop_stats()["episodes"][-1]
        episode = env.last_episode
    finally:
        env.close()

    import numpy as np

    fps = float(env.metadata.get("render_fps") or 30)
    plain = lambda rows: np.asarray(rows, dtype=float).round(6).tolist()  # noqa: E731 - as evaluate.py records them
    raw = np.stack([np.asarray(f, dtype=np.uint8) for f in frames])
    return {"raw": base64.b64encode(zlib.compress(raw.tobytes(), 1)).decode(), "frames": len(frames),
            "frame_steps": at, "stride": stride, "fps": fps, "steps": step,
            "fitness": float(summary["fitness"]), "terminated": bool(summary["terminated"]),
            "width": frames[0].width, "height": frames[0].height,
            "trajectory": {"fields": {k: plain(v) for k, v in episode.fields.items()},
                           "obs": plain(observations), "actions": plain(episode.actions)}}


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


def _why_unavailable(task: Task, exc: BaseException) -> str:
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
