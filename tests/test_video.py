"""Policy videos: a tiny training returns a checkpoint, a sandboxed render job turns it into an animated
GIF (classic control with pygame; MuJoCo offscreen through OSMesa), and a run keeps it in videos/."""

import ctypes.util
import importlib.util
import io
import json
import time

import pytest
from PIL import Image

from rewardsmith.output import video
from rewardsmith.output.report import write_report
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.task import load_task
from rewardsmith.training.trainer import Budget, train_once
from conftest import TINY_TASK

HAS_PYGAME = importlib.util.find_spec("pygame") is not None
HAS_OSMESA = ctypes.util.find_library("OSMesa") is not None
needs_pygame = pytest.mark.skipif(not HAS_PYGAME, reason="classic-control rendering needs pygame "
                                  "(pip install 'gymnasium[classic-control]')")
needs_osmesa = pytest.mark.skipif(not HAS_OSMESA, reason="offscreen MuJoCo rendering needs OSMesa "
                                  "(apt-get install libosmesa6)")


def gif_frames(data: bytes) -> tuple[int, tuple[int, int]]:
    assert data[:6] == b"GIF89a"
    image = Image.open(io.BytesIO(data))
    return image.n_frames, image.size


@pytest.fixture(scope="module")
def mountaincar():
    """The tiny mountain-car task and a checkpoint of a 512-step PPO training of its baseline reward."""
    task = load_task(str(TINY_TASK))
    run = train_once(task, task.baseline, 0, Budget(512), return_checkpoint=True, eval_episodes=1)
    assert run.checkpoint and run.checkpoint["vecnormalize"] is None
    return task, run


@needs_pygame
@pytest.mark.slow
def test_classic_control_policy_renders_to_a_small_animated_gif(mountaincar):
    task, run = mountaincar
    notes = []
    episode = video.render_episode(task, run.checkpoint, seed=0, max_frames=40, size=96, on_note=notes.append)
    assert notes == [] and episode is not None
    frames, (width, height) = gif_frames(episode["gif"])
    assert 1 < frames <= 41 and max(width, height) == 96  # 600x400 downscaled, aspect kept
    assert (episode["width"], episode["height"]) == (96, 64)
    # the rendered episode is the training's first evaluation episode: same start, same policy
    assert episode["fitness"] == pytest.approx(run.episode_fitness[0])
    assert episode["steps"] == run.episodes[0].length


@needs_pygame
@pytest.mark.slow
def test_generation_video_is_written_into_the_run_and_recorded(mountaincar, tmp_path):
    task, run = mountaincar
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline", "seed": 0}, TINY_TASK)
    c = store.add_candidate(1, task.baseline, "offline")
    store.update(c.id, status=SCORED, fitness=run.fitness, seeds=[0])
    assert video.write_generation_video(store, task, c.id, 1) is None  # no checkpoint yet: says so
    store.checkpoint_path(c.id, 0).parent.mkdir(parents=True, exist_ok=True)
    store.checkpoint_path(c.id, 0).write_text(json.dumps(run.checkpoint))
    path = video.write_generation_video(store, task, c.id, 1, max_frames=20, size=80)
    assert path == store.root / "videos" / f"gen1-{c.id}.mp4"  # MP4 (tests/test_video_mp4.py); GIF the fallback
    assert path.read_bytes()[4:8] == b"ftyp"
    [event] = store.events("video")
    assert event["candidate"] == c.id and event["path"] == f"videos/gen1-{c.id}.mp4" and event["steps"] > 1
    page = write_report(store.root).read_text()  # the report embeds it
    assert f'id="video-gen1-{c.id}.mp4"' in page and 'src="data:video/mp4;base64,' in page


@needs_osmesa
@pytest.mark.slow
def test_mujoco_policy_renders_offscreen_with_its_normalization(monkeypatch):
    monkeypatch.setattr(video, "_unavailable", {})
    task = load_task("hopper-forward")  # VecNormalize on: the checkpoint carries observation statistics
    run = train_once(task, None, 0, Budget(256), return_checkpoint=True, eval_episodes=1,
                     settings={"ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 1}})
    assert run.checkpoint["vecnormalize"] is not None
    notes = []
    episode = video.render_episode(task, run.checkpoint, seed=0, max_frames=30, size=64, on_note=notes.append)
    assert notes == [], notes
    frames, size = gif_frames(episode["gif"])
    assert frames > 1 and size == (64, 64)  # MuJoCo renders at the asked size directly
    assert episode["fitness"] == pytest.approx(run.episode_fitness[0])


def untrained_checkpoint(task) -> dict:
    from stable_baselines3 import PPO

    from rewardsmith.sandbox.policy import encode_policy

    model = PPO("MlpPolicy", task.make_env(), n_steps=64, batch_size=64, device="cpu")
    return {"policy": encode_policy(model)}  # what a checkpoint carries for renders: plain numbers


def test_unavailable_rendering_is_said_once_and_not_retried(monkeypatch):
    monkeypatch.setattr(video, "_unavailable", {})
    task = load_task("hopper-forward")
    checkpoint = untrained_checkpoint(task)
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")  # the sandboxed child inherits it
    notes = []
    assert video.render_policy(task, checkpoint, on_note=notes.append) is None
    assert len(notes) == 1 and notes[0].startswith("video rendering unavailable: Hopper-v5")
    assert "MUJOCO_GL" in notes[0] or "OSMesa" in notes[0]
    started = time.monotonic()
    assert video.render_policy(task, checkpoint, on_note=notes.append) is None
    assert len(notes) == 1 and time.monotonic() - started < 1.0  # no second job, no second message
