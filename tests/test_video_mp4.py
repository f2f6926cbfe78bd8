"""Rollout videos as MP4 (output/video.py): H.264, yuv420p, the moov atom first, decodable back frame by
frame with the ffmpeg of the imageio-ffmpeg wheel; the component curves beside each video, one row per
frame, replayed in the sandboxed reward process; every video of a run from the same start; GIF only
where MP4 encoding fails, said once.

The policies are tiny MLPs written as plain numbers (the format checkpoints carry), so no training and
no torch: a render job and a replay job per video."""

import importlib.util
import io
import json

import numpy as np
import pytest
from PIL import Image

from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.errors import RewardCodeError
from rewardsmith.output import video
from rewardsmith.sandbox.evaluate import evaluation_seed
from rewardsmith.sandbox.policy import FORMAT, encode_array
from rewardsmith.task import load_task
from conftest import TINY_TASK

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="pip install imageio-ffmpeg (a dependency)")
needs_pygame = pytest.mark.skipif(importlib.util.find_spec("pygame") is None,
                                  reason="classic-control rendering needs pygame (pip install 'gymnasium[classic-control]')")


def decoded(data: bytes, tmp_path) -> tuple[dict, list[np.ndarray]]:
    """An MP4 decoded back by ffmpeg: its stream facts and every frame."""
    path = tmp_path / "back.mp4"
    path.write_bytes(data)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return meta, [np.frombuffer(f, dtype=np.uint8).reshape(h, w, 3) for f in reader]


def test_mp4_is_h264_yuv420p_with_moov_first_and_decodes_back(tmp_path):
    pixels = np.zeros((12, 21, 33, 3), dtype=np.uint8)  # odd sides: padded to even for yuv420p
    for i in range(12):
        pixels[i, :, :, 0] = 20 * i
        pixels[i, 5:15, i * 2:i * 2 + 6] = 255
    data = video.encode_mp4(pixels, 12.5)
    assert data[4:8] == b"ftyp" and 0 < data.index(b"moov") < data.index(b"mdat")  # +faststart
    meta, frames = decoded(data, tmp_path)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p"), meta
    assert meta["size"] == (34, 22) and meta["fps"] == pytest.approx(12.5) and len(frames) == 12
    for i in (0, 6, 11):  # each frame is the one given (lossy: within a few levels on average)
        assert np.abs(frames[i][:21, :33].astype(int) - pixels[i]).mean() < 6, i


def tiny_policy(seed: int) -> dict:
    """A deterministic 2-4-1 MLP for continuous mountain car's (position, velocity) and its force."""
    rng = np.random.default_rng(seed)
    layer = lambda n_in, n_out: {"weight": encode_array(rng.normal(size=(n_out, n_in)) * 3),  # noqa: E731
                                 "bias": encode_array(rng.normal(size=n_out))}
    return {"format": FORMAT, "obs_shape": [2], "layers": [layer(2, 4)], "activation": "tanh",
            "head": layer(4, 1), "normalize": None,
            "action": {"type": "box", "low": encode_array(np.array([-1.0])), "high": encode_array(np.array([1.0])),
                       "squash": False}}


def run_with_checkpoints(root, seeds: dict[int, int]) -> tuple[RunStore, list[str]]:
    """A run (seed 5) with one scored candidate per (training seed -> policy seed), each with its checkpoint."""
    task = load_task(str(TINY_TASK))
    store = RunStore.create(root, {"task": task.name, "designer": "offline", "seed": 5}, TINY_TASK)
    ids = []
    for training_seed, policy_seed in seeds.items():
        c = store.add_candidate(1, task.baseline, "offline")
        store.update(c.id, status=SCORED, fitness=0.1, seeds=[training_seed])
        path = store.checkpoint_path(c.id, training_seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"policy": tiny_policy(policy_seed)}))
        ids.append(c.id)
    return store, ids


@needs_pygame
@pytest.mark.slow
def test_videos_start_from_one_state_with_a_curve_row_per_frame(tmp_path, monkeypatch):
    """Two candidates trained on different seeds, with different policies: both videos are MP4s from the
    run seed's reset (the same first frame), and each curves file has one row per decoded frame."""
    monkeypatch.setattr(video, "_no_mp4", [])
    task = load_task(str(TINY_TASK))
    store, ids = run_with_checkpoints(tmp_path / "run", {0: 1, 3: 2})
    notes = []
    paths = [video.write_generation_video(store, task, cid, 1, max_frames=24, size=64, on_note=notes.append)
             for cid in ids]
    assert notes == [] and [p.suffix for p in paths] == [".mp4", ".mp4"]
    firsts = []
    for cid, path in zip(ids, paths):
        curves = json.loads(path.with_suffix(".json").read_text())
        meta, frames = decoded(path.read_bytes(), tmp_path)
        assert len(frames) == curves["frames"] == len(curves["rows"]) == len(curves["total"]) == len(curves["frame_steps"])
        assert curves["names"] == ["effort", "energy_gain", "flag"]  # the baseline reward's components
        assert curves["rows"][0] == [None, None, None] and curves["total"][0] is None  # the reset: no step yet
        assert all(isinstance(v, float) for row in curves["rows"][1:] for v in row)
        assert curves["frame_steps"][0] == 0 and curves["frame_steps"][-1] == curves["steps"] > 1
        assert meta["fps"] == pytest.approx(curves["fps"], rel=0.01)
        assert curves["reset_seed"] == evaluation_seed(5, 0) and curves["start_seed"] == 5
        assert curves["video"] == path.name and curves["candidate"] == cid
        firsts.append(frames[0].astype(int))
    events = store.events("video")
    assert [e["seed"] for e in events] == [0, 3]  # the checkpoints of different training seeds...
    assert {e["reset_seed"] for e in events} == {evaluation_seed(5, 0)} and {e["format"] for e in events} == {"mp4"}
    assert np.abs(firsts[0] - firsts[1]).mean() < 2  # ...start from one state


def synthetic_episode(frames: int = 9) -> dict:
    pixels = np.zeros((frames, 16, 24, 3), dtype=np.uint8)
    pixels[:, :, :, 1] = np.arange(frames, dtype=np.uint8)[:, None, None] * 20
    return {"pixels": pixels, "frames": frames, "frame_steps": list(range(0, 2 * frames, 2)), "fps": 15.0,
            "frame_ms": 1000 / 15, "steps": 2 * frames - 2, "fitness": 0.5, "terminated": False, "width": 24,
            "height": 16, "reset_seed": evaluation_seed(5, 0), "trajectory": {}}


def test_gif_where_mp4_encoding_fails_said_once(tmp_path, monkeypatch):
    """The encoder fails (here: made to): GIFs from then on, said once and recorded once; a reward whose
    replay fails still gets its frames' facts (no curves, said)."""
    monkeypatch.setattr(video, "_no_mp4", [])
    tries = []

    def broken(pixels, fps):
        tries.append(fps)
        raise video.VideoEncodingError("ffmpeg could not encode H.264: test")

    def failing_replay(task, code, episode):
        raise RewardCodeError("compute_reward raised ZeroDivisionError on step 3")

    monkeypatch.setattr(video, "encode_mp4", broken)
    monkeypatch.setattr(video, "render_episode", lambda *a, **k: synthetic_episode())
    monkeypatch.setattr(video, "component_curves", failing_replay)
    task = load_task(str(TINY_TASK))
    store, ids = run_with_checkpoints(tmp_path / "run", {0: 1, 1: 2})
    notes = []
    paths = [video.write_generation_video(store, task, cid, 1, on_note=notes.append) for cid in ids]
    assert [p.suffix for p in paths] == [".gif", ".gif"] and len(tries) == 1  # not tried again
    fallback = [n for n in notes if "MP4" in n]
    assert fallback == ["MP4 encoding failed (ffmpeg could not encode H.264: test); writing GIF videos instead"]
    assert len(store.events("video_fallback")) == 1
    image = Image.open(io.BytesIO(paths[0].read_bytes()))
    assert image.format == "GIF" and image.n_frames == 9 and image.size == (24, 16)
    curves = json.loads(paths[0].with_suffix(".json").read_text())
    assert curves["names"] == [] and len(curves["rows"]) == 9 and "ZeroDivisionError" in curves["error"]
    assert sum("no component curves" in n for n in notes) == 2
    assert [e["format"] for e in store.events("video")] == ["gif", "gif"]
    assert video.existing_video(store, 1, ids[0]) == paths[0]


def test_a_render_child_answer_is_checked_before_use():
    """The frames, steps and sizes a render child sends are numbers to check, like any child's."""
    from rewardsmith.errors import SandboxError

    pixels = np.zeros((3, 4, 6, 3), dtype=np.uint8)
    import base64
    import zlib

    good = {"raw": base64.b64encode(zlib.compress(pixels.tobytes())).decode(), "frames": 3, "frame_steps": [0, 2, 4],
            "stride": 2, "fps": 30.0, "steps": 4, "fitness": 1.0, "terminated": True, "width": 6, "height": 4,
            "trajectory": {}}
    assert video._checked(dict(good), 10)["pixels"].shape == (3, 4, 6, 3)
    assert video._checked(dict(good), 10)["fps"] == 15.0  # every second step shown
    bad = [{"frames": 4}, {"frame_steps": [0, 4, 2]}, {"frame_steps": [0, 2, 3]}, {"width": 5000},
           {"raw": base64.b64encode(zlib.compress(b"\0" * 10)).decode()}, {"raw": "not base64!"},
           {"raw": base64.b64encode(zlib.compress(pixels.tobytes() + b"\0")).decode()}, {"fps": float("nan")}]
    for change in bad:
        with pytest.raises(SandboxError):
            video._checked({**good, **change}, 10)


def test_videos_every_renders_each_scored_candidate_of_the_generation_and_best_only_the_best(tmp_path, monkeypatch):
    # --videos every: the page's pair choice (neighbours in the ranking) can then show any pair by video
    from rewardsmith.archive.store import SCORED, RunStore
    from rewardsmith.config import EvolveConfig
    from rewardsmith.loop import Evolution
    from rewardsmith.output import video
    from rewardsmith.task import load_task_file
    from conftest import TINY_TASK

    task = load_task_file(TINY_TASK)
    rendered = []
    monkeypatch.setattr(video, "write_generation_video",
                        lambda store, task, cid, generation, on_note=None, events=None, candidate=None:
                        rendered.append((generation, cid)))
    for mode, expected in (("best", [(0, "c1")]), ("every", [(0, "c0"), (0, "c1"), (0, "c2")])):
        store = RunStore.create(tmp_path / mode, {"task": task.name, "designer": "offline"}, task.path)
        for fitness in (1.0, 3.0, 2.0):
            c = store.add_candidate(0, f"def compute_reward(s, a, n):\n    return {fitness}, {{}}\n", "offline")
            store.update(c.id, status=SCORED, fitness=fitness, seeds=[0], timesteps=1024)
        loop = Evolution.__new__(Evolution)
        loop.store, loop.task, loop.events = store, task, None
        loop.emit = loop.on_event = lambda kind, **data: None
        loop.config = EvolveConfig(task=task.name, videos=mode)
        rendered.clear()
        loop._video(0)
        assert rendered == expected
