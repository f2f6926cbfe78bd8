"""Short videos of trained policies: one deterministic episode rendered to an MP4 a browser can scrub
(GIF only where MP4 encoding fails), with each reward component's value on every frame beside it.

Rendering runs as a sandboxed job (``job["kind"] == "render"``; ``rewardsmith.sandbox.render`` is the
child's side): the child reads the policy a checkpoint carries as plain numbers (``checkpoint["policy"]``,
acted out in numpy; no pickle, no candidate code), rolls out one episode with ``render_mode="rgb_array"``
and sends back the frames raw with the episode's trajectory. MuJoCo renders offscreen on the CPU through
OSMesa (Debian ``libosmesa6``, ``MUJOCO_GL=osmesa``); classic-control tasks render with pygame. Where
neither works, the parent says so once per environment and goes on without videos.

This process encodes: H.264 in MP4 (``yuv420p``, the ``moov`` atom first: ``+faststart``), through the
ffmpeg that the ``imageio-ffmpeg`` wheel ships, so the page can seek to any frame and keep two videos on
the same one; where that fails, an animated GIF, said once. The component curves come from replaying the
candidate's reward on the rendered trajectory in a sandboxed replay job (``training.replay``: the reward
process, the one place candidate code runs); the numbers are checked there and written as data,
``videos/gen<g>-<id>.json``, one row per frame (the frames' facts alone where the replay fails).

Every video of a run starts from the same state: the first evaluation episode's reset of the run's seed,
whichever seed the candidate's checkpoint was trained with, so two videos compared side by side show the
two policies from one start.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import tempfile
import zlib
from pathlib import Path

from ..errors import RewardCodeError, SandboxError
from ..host.launch import Limits, run_job
from ..sandbox.evaluate import evaluation_seed
from ..sandbox.policy import NumpyPolicy, PolicyFormatError
from ..sandbox.render import MIN_FRAME_MS, UNAVAILABLE  # noqa: F401 - part of this module's API
from ..task import Task
from ..untrusted import printable

log = logging.getLogger(__name__)

FORMATS = ("mp4", "gif")   # what write_generation_video writes, in order of preference
MAX_SIDE = 2048            # pixels of a frame's side the parent accepts from the render child
CURVES_VERSION = 1

# environments found unable to render in this process: env id -> why (so a run says it once and
# does not start a doomed render job every generation)
_unavailable: dict[str, str] = {}
# why MP4 encoding failed in this process, once it has (then GIFs, said once)
_no_mp4: list[str] = []


class VideoEncodingError(Exception):
    """The encoder could not make the video (missing wheel, ffmpeg failed)."""


# --------------------------------------------------------------------------- parent side


def render_policy(task: Task, checkpoint: dict, *, seed: int = 0, max_frames: int = 200, size: int = 160,
                  on_note=None) -> bytes | None:
    """An animated GIF of ``checkpoint``'s policy playing one deterministic episode of ``task``, or None
    when this machine cannot render the environment (said once: through ``on_note``, else the log)."""
    video = render_episode(task, checkpoint, seed=seed, max_frames=max_frames, size=size, on_note=on_note)
    return video["gif"] if video else None


def render_episode(task: Task, checkpoint: dict, *, seed: int = 0, max_frames: int = 200, size: int = 160,
                   on_note=None, wall_seconds: float = 300.0, gif: bool = True) -> dict | None:
    """One deterministic episode from the reset of evaluation episode 0 of ``seed``, with its facts:
    {"pixels" (frames × height × width × 3 uint8), "frame_steps" (the step each frame shows), "fps"
    (frames per second of the video), "frame_ms", "frames", "steps", "fitness", "terminated", "width",
    "height", "reset_seed", "trajectory"} and, with ``gif``, "gif" (bytes); None where it cannot render."""
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
        video = _checked(result, max_frames)
    except SandboxError as exc:
        if exc.kind == UNAVAILABLE:
            _unavailable[task.env_id] = str(exc)
            _say(f"video rendering unavailable: {exc}", on_note)
        else:
            _say(f"video rendering failed for {task.name}: {exc}", on_note)
        return None
    video["reset_seed"] = evaluation_seed(int(seed), 0)
    if gif:
        video["gif"] = encode_gif(video["pixels"], video["frame_ms"])
    return video


def _checked(result: dict, max_frames: int) -> dict:
    """The render child's answer with every number checked and the frames decoded; SandboxError if not."""
    import numpy as np

    from .. import untrusted

    result = untrusted.mapping(result, "the render result")
    frames = untrusted.count(result.get("frames"), "the frame count")
    width, height = (untrusted.count(result.get(k), f"the frame {k}") for k in ("width", "height"))
    steps = untrusted.count(result.get("steps"), "the step count")
    if not (1 <= frames <= max(2, max_frames) + 1 and 1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise untrusted.violation(f"{frames} frames of {width}x{height}",
                                  f"at most {max_frames + 1} frames of at most {MAX_SIDE} pixels a side")
    at = result.get("frame_steps")
    if not (isinstance(at, list) and len(at) == frames and all(type(s) is int for s in at) and at[0] == 0
            and at[-1] == steps and all(a < b for a, b in zip(at, at[1:]))):
        raise untrusted.violation("frame steps that do not run from 0 to the last step", "one rising step per frame")
    fps = untrusted.number(result.get("fps"), "the frame rate", minimum=0.1)
    stride = untrusted.count(result.get("stride"), "the frame stride")
    expected = frames * height * width * 3
    raw = result.get("raw")
    if not isinstance(raw, str) or len(raw) > 4 * expected + 1024:
        raise untrusted.violation("a missing or oversized frame buffer", f"{expected} bytes of frames")
    try:
        inflate = zlib.decompressobj()
        pixels = inflate.decompress(base64.b64decode(raw, validate=True), expected + 1)
    except (ValueError, zlib.error) as exc:
        raise untrusted.violation(f"frames that do not decode ({exc})", "zlib-compressed base64") from None
    if len(pixels) != expected or inflate.unconsumed_tail:
        raise untrusted.violation(f"{len(pixels)} bytes of frames", f"{expected}")
    trajectory = untrusted.mapping(result.get("trajectory"), "the rendered trajectory")
    rate = fps / max(1, stride)
    return {"pixels": np.frombuffer(pixels, dtype=np.uint8).reshape(frames, height, width, 3),
            "frames": frames, "frame_steps": at, "fps": rate, "frame_ms": 1000.0 / rate, "steps": steps,
            "fitness": untrusted.number(result.get("fitness"), "the episode's fitness"),
            "terminated": bool(result.get("terminated")), "width": width, "height": height,
            "trajectory": trajectory}


def encode_gif(pixels, frame_ms: float) -> bytes:
    """Frames (n × h × w × 3 uint8) as an animated GIF: per-frame palettes, small files, true colours."""
    from PIL import Image

    frames = [Image.fromarray(f).quantize(colors=128) for f in pixels]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=max(MIN_FRAME_MS, round(frame_ms)), disposal=1)
    return buffer.getvalue()


def encode_mp4(pixels, fps: float) -> bytes:
    """Frames (n × h × w × 3 uint8) as H.264 in MP4, yuv420p, ``moov`` first (``+faststart``: a browser
    plays and seeks before the whole file is in), a key frame every 10 frames (seeking decodes little).
    Odd sides are padded by one edge row or column (yuv420p needs even ones). VideoEncodingError says why not."""
    import numpy as np

    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise VideoEncodingError(f"the imageio-ffmpeg wheel is not installed ({exc})") from None
    n, h, w, _ = pixels.shape
    if h % 2 or w % 2:
        pixels = np.pad(pixels, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with tempfile.TemporaryDirectory(prefix="rewardsmith-mp4-") as tmp:
        out = Path(tmp) / "video.mp4"
        try:
            writer = imageio_ffmpeg.write_frames(
                str(out), (w + w % 2, h + h % 2), fps=round(float(fps), 6), codec="libx264", pix_fmt_out="yuv420p",
                quality=None, macro_block_size=1, ffmpeg_log_level="error", ffmpeg_timeout=120,
                output_params=["-crf", "20", "-preset", "veryfast", "-g", "10", "-threads", "1",
                               "-movflags", "+faststart", "-f", "mp4"])
            writer.send(None)
            for frame in pixels:
                writer.send(np.ascontiguousarray(frame))
            writer.close()
        except (OSError, RuntimeError, StopIteration) as exc:
            raise VideoEncodingError(f"ffmpeg could not encode H.264: {str(exc).strip().splitlines()[-1:]}") from None
        data = out.read_bytes() if out.is_file() else b""
    if data[4:8] != b"ftyp":
        raise VideoEncodingError("ffmpeg wrote no MP4")
    return data


def component_curves(task: Task, code: str, video: dict) -> dict:
    """The reward's total and each component on every frame of ``video``: the reward replayed on the
    rendered trajectory in the sandboxed reward process (its numbers checked there). A frame's value is
    the mean over the steps since the previous frame (the first frame, the reset, has none: null).
    RewardCodeError or SandboxError when the replay fails."""
    from ..archive.records import Trajectory
    from ..training.replay import replay

    t = video["trajectory"]
    trajectory = Trajectory(fields=t.get("fields"), actions=t.get("actions"), obs=t.get("obs"))
    try:
        [episode] = replay(task, code, [trajectory])
    except ValueError as exc:  # a malformed trajectory from the render child
        raise SandboxError(f"the rendered trajectory cannot be replayed: {exc}") from None
    at = video["frame_steps"]

    def per_frame(values: list[float]) -> list[float | None]:
        out: list[float | None] = [None]
        for a, b in zip(at, at[1:]):
            mean = math.fsum(values[a:b]) / (b - a)
            out.append(mean if math.isfinite(mean) else None)
        return out

    names = sorted(episode.components)
    columns = [per_frame(episode.components[n]) for n in names]
    return {**frame_facts(video), "names": [printable(n, one_line=True) for n in names],
            "total": per_frame(episode.rewards), "rows": [[column[k] for column in columns] for k in range(len(at))]}


def frame_facts(video: dict) -> dict:
    """What the page needs to know of a video's frames: the step each shows, their rate, the start."""
    return {"version": CURVES_VERSION, "frames": video["frames"], "frame_steps": video["frame_steps"],
            "fps": video["fps"], "frame_ms": video["frame_ms"], "steps": video["steps"],
            "reset_seed": video["reset_seed"]}


def video_start(store) -> int:
    """The seed every video of this run starts from (its first evaluation episode's reset)."""
    return int(store.config.get("seed", 0) or 0)


def existing_video(store, generation: int, candidate_id: str) -> Path | None:
    """The video already written for this generation and candidate, in any format."""
    for fmt in FORMATS:
        path = store.root / "videos" / f"gen{generation}-{candidate_id}.{fmt}"
        if path.is_file():
            return path
    return None


def write_generation_videos(store, task: Task, generation: int, every: bool = False, *, on_note=None,
                            events=None, scored=None) -> list[Path]:
    """The videos of ``generation`` (``--videos``): of its best scored candidate (``selection.best_of``), or of
    every scored one with ``every``; one already written is kept, not rendered again. Gives the paths
    written now (``write_generation_video``, which says why where it writes none). ``scored``: the
    generation's scored candidates as training handed them on, in the archive's order (None: read from
    the store)."""
    from ..archive.selection import best_of
    from ..archive.store import SCORED

    if scored is None:
        scored = store.candidates(generation=generation, status=SCORED)
    best = best_of(scored)
    written = []
    for candidate in scored if every else [best] if best else []:
        if existing_video(store, generation, candidate.id) is None:
            path = write_generation_video(store, task, candidate.id, generation, events=events, on_note=on_note,
                                          candidate=candidate)
            if path is not None:
                written.append(path)
    return written


def write_generation_video(store, task: Task, candidate_id: str, generation: int, *, seed: int | None = None,
                           on_note=None, max_frames: int = 200, size: int = 160, events=None,
                           candidate=None) -> Path | None:
    """Renders a candidate's policy from its stored checkpoint (of training ``seed``, else its first seed
    that has one) from the run's common start into ``<run>/videos/gen<g>-<id>.mp4`` (``.gif`` where MP4
    encoding fails, said once), with its component curves in ``gen<g>-<id>.json``; gives the video's
    path, or None when there is no checkpoint or rendering is unavailable (said once). ``events``: the run's
    event sink (archive/events.py), which hears ``video``, ``video_unavailable`` and ``video_fallback``;
    default: one that persists them to ``store`` (a page rendering on demand has no run's sink). ``candidate``:
    its record where the caller holds it (None: read from the store)."""
    from ..archive.events import Events
    from ..archive.store import write_atomic

    emit = Events.of(store, events).emit

    candidate = candidate if candidate is not None else store.candidate(candidate_id)
    seeds = [seed] if seed is not None else list(candidate.seeds or []) or [store.config.get("seed", 0)]
    path = next((p for s in seeds if (p := store.checkpoint_path(candidate_id, s)).is_file()), None)
    if path is None:
        _say(f"no video for {candidate_id}: no checkpoint in {store.root / 'checkpoints'}", on_note)
        return None
    checkpoint = json.loads(path.read_text())
    used_seed = int(path.stem.rsplit("-seed", 1)[1])
    start = video_start(store)
    video = render_episode(task, checkpoint, seed=start, max_frames=max_frames, size=size, on_note=on_note, gif=False)
    if video is None:
        if task.env_id in _unavailable and not store.events("video_unavailable"):
            emit("video_unavailable", reason=_unavailable[task.env_id])
        return None
    data, fmt = None, "gif"
    if not _no_mp4:
        try:
            data, fmt = encode_mp4(video["pixels"], video["fps"]), "mp4"
        except VideoEncodingError as exc:
            _no_mp4.append(str(exc))
            _say(f"MP4 encoding failed ({exc}); writing GIF videos instead", on_note)
            emit("video_fallback", format="gif", reason=str(exc))
    if data is None:
        data = encode_gif(video["pixels"], video["frame_ms"])
    folder = store.root / "videos"
    out = folder / f"gen{generation}-{candidate_id}.{fmt}"
    write_atomic(out, data)
    for other in FORMATS:  # one video per generation and candidate: the page and report pick by name
        if other != fmt:
            (folder / f"gen{generation}-{candidate_id}.{other}").unlink(missing_ok=True)
    try:
        curves, failed = component_curves(task, candidate.code, video), None
    except (RewardCodeError, SandboxError) as exc:  # the frames' facts are still written: the page needs them
        failed = printable(str(exc), one_line=True)[:300]
        _say(f"no component curves for {candidate_id}'s video: {failed}", on_note)
        curves = {**frame_facts(video), "names": [], "total": [None] * video["frames"], "rows": [[]] * video["frames"]}
    write_atomic(folder / f"gen{generation}-{candidate_id}.json",
                 json.dumps({**curves, "video": out.name, "candidate": candidate_id, "generation": generation,
                             "start_seed": start, "error": failed}, allow_nan=False).encode())
    emit("video", generation=generation, candidate=candidate_id, seed=used_seed, start_seed=start,
         reset_seed=video["reset_seed"], format=fmt, path=str(out.relative_to(store.root)), curves=failed is None,
         **{k: video[k] for k in ("frames", "steps", "fitness", "terminated")})
    return out


def _say(message: str, on_note) -> None:
    if on_note is not None:
        on_note(message)
    else:
        log.warning(message)
