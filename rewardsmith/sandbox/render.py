"""Rendering one deterministic episode of a trained policy to a GIF, inside a sandboxed child
(``job["kind"] == "render"``; never loads candidate code). The parent side is ``rewardsmith.video``.
"""

from __future__ import annotations

import base64
import io
import os

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
    """Child side: one deterministic episode, every ``stride``-th frame, as a base64 GIF."""
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
        env = RewardWrapper(_make_render_env(task, size), task)
        obs, _ = env.reset(seed=evaluation_seed(seed, 0))  # the first evaluation episode's start
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
            action = policy(obs)
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
