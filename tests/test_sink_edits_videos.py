"""A person's edit and a generation's video are told through the run's one event sink (archive/events.py), like
every other happening: each observer of a live run hears them once, and the store keeps them in the shapes it
kept before (the page and ``show`` read those). Without a run's sink (``rewardsmith edit``, the page rendering a
video on demand) they are still kept. Rendering and encoding are faked here: what is tested is who hears what.
A person's edit is probed by the run's critic (its seed and --critic-seconds), as a designer's proposal is."""

import json

import numpy as np
import pytest

from rewardsmith.archive.events import Events
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.output import video
from rewardsmith.people.human import add_edit
from rewardsmith.task import load_task_file
from conftest import TINY_TASK

VIDEO_KEYS = ["created", "kind", "generation", "candidate", "seed", "start_seed", "reset_seed", "format", "path",
              "curves", "frames", "steps", "fitness", "terminated"]


def _run(tmp_path):
    task = load_task_file(TINY_TASK)
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline", "seed": 5}, task.path)
    c = store.add_candidate(1, task.baseline, "offline")
    store.update(c.id, status=SCORED, fitness=0.1, seeds=[0])
    return store, task, c


def _heard(events: Events) -> list[tuple[str, dict]]:
    heard: list[tuple[str, dict]] = []
    events.subscribe(lambda kind, **data: heard.append((kind, data)))
    return heard


def _episode(frames: int = 5) -> dict:
    pixels = np.zeros((frames, 16, 24, 3), dtype=np.uint8)
    return {"pixels": pixels, "frames": frames, "frame_steps": list(range(0, 2 * frames, 2)), "fps": 15.0,
            "frame_ms": 1000 / 15, "steps": 2 * frames - 2, "fitness": 0.5, "terminated": False, "width": 24,
            "height": 16, "reset_seed": 7, "trajectory": {}}


@pytest.fixture
def faked_rendering(monkeypatch):
    """No render job, no replay job, no encoder: a GIF of a drawn episode (MP4 made to fail once)."""
    monkeypatch.setattr(video, "_no_mp4", [])
    monkeypatch.setattr(video, "render_episode", lambda *a, **k: _episode())
    monkeypatch.setattr(video, "component_curves", lambda task, code, episode: {
        **video.frame_facts(episode), "names": [], "total": [None] * episode["frames"],
        "rows": [[]] * episode["frames"]})

    def broken(pixels, fps):
        raise video.VideoEncodingError("no H.264 here")

    monkeypatch.setattr(video, "encode_mp4", broken)


def _checkpoint(store, cid):
    path = store.checkpoint_path(cid, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"policy": "drawn"}))


def test_a_video_is_heard_by_the_runs_observers_once_and_kept_in_its_shape(tmp_path, faked_rendering):
    store, task, c = _run(tmp_path)
    _checkpoint(store, c.id)
    events = Events(store)
    heard = _heard(events)
    path = video.write_generation_video(store, task, c.id, 1, events=events)
    assert path == store.root / "videos" / f"gen1-{c.id}.gif"
    assert [kind for kind, _ in heard] == ["video_fallback", "video"]
    assert heard[0][1] == {"format": "gif", "reason": "no H.264 here"}
    [kept] = store.events("video")
    assert list(kept) == VIDEO_KEYS  # the stored event's fields, in the order the page has always read
    assert {k: kept[k] for k in VIDEO_KEYS[2:]} == heard[1][1]
    assert (kept["candidate"], kept["seed"], kept["format"], kept["path"]) == (c.id, 0, "gif", f"videos/gen1-{c.id}.gif")
    assert [e["reason"] for e in store.events("video_fallback")] == ["no H.264 here"]


def test_a_video_rendered_without_a_runs_sink_is_still_kept(tmp_path, faked_rendering):
    store, task, c = _run(tmp_path)
    _checkpoint(store, c.id)
    assert video.write_generation_video(store, task, c.id, 1) is not None  # as the page renders one on demand
    assert [list(e) for e in store.events("video")] == [VIDEO_KEYS]


def test_unavailable_rendering_is_heard_through_the_sink(tmp_path, monkeypatch):
    store, task, c = _run(tmp_path)
    _checkpoint(store, c.id)
    monkeypatch.setattr(video, "render_episode", lambda *a, **k: None)
    monkeypatch.setattr(video, "_unavailable", {task.env_id: "no display"})
    events = Events(store)
    heard = _heard(events)
    assert video.write_generation_video(store, task, c.id, 1, events=events) is None
    assert heard == [("video_unavailable", {"reason": "no display"})]
    assert [e["reason"] for e in store.events("video_unavailable")] == ["no display"]


def test_the_loop_hands_its_sink_to_the_video_writer(tmp_path, monkeypatch):
    from rewardsmith.config import EvolveConfig
    from rewardsmith.loop import Evolution

    store, task, c = _run(tmp_path)
    given = []
    monkeypatch.setattr(video, "write_generation_video",
                        lambda store, task, cid, generation, on_note=None, events=None, candidate=None:
                        given.append(events))
    loop = Evolution.__new__(Evolution)
    loop.store, loop.task, loop.events = store, task, Events(store)
    loop.emit = loop.on_event = loop.events.emit
    loop.config = EvolveConfig(task=task.name, videos="best")
    loop._video(1)
    assert given == [loop.events]


def test_an_accepted_edit_is_heard_by_the_runs_observers_once_and_kept_in_its_shape(tmp_path):
    store, task, c = _run(tmp_path)
    events = Events(store)
    heard = _heard(events)
    edited = task.baseline.replace("10.0 * next_state.at_flag", "20.0 * next_state.at_flag")
    outcome = add_edit(store, task, c.id, edited, screen=False, events=events)
    assert outcome.candidate is not None and outcome.candidate.id == f"{c.id}e1"
    # (a near-duplicate event may come first: this edit changes only a term that never varies on the episodes)
    assert [h for h in heard if h[0] == "edit"] == [("edit", {"candidate": f"{c.id}e1", "parent": c.id, "screened": False})]
    [kept] = store.events("edit")
    assert list(kept) == ["created", "kind", "candidate", "parent", "screened"]
    assert (kept["candidate"], kept["parent"], kept["screened"]) == (f"{c.id}e1", c.id, False)


def test_an_edit_made_outside_a_run_is_still_kept_and_a_rejected_one_is_not_told(tmp_path):
    store, task, c = _run(tmp_path)
    events = Events(store)
    heard = _heard(events)
    rejected = add_edit(store, task, c.id, "def compute_reward(:\n", screen=False, events=events)
    assert rejected.candidate is None and heard == [] and store.events("edit") == []
    add_edit(store, task, c.id, task.baseline.replace("10.0 *", "20.0 *"), screen=False)  # `rewardsmith edit`
    assert [e["candidate"] for e in store.events("edit")] == [f"{c.id}e1"]


def test_a_persons_edit_is_probed_with_the_runs_critic_settings_as_a_proposal_is(tmp_path, monkeypatch):
    """``--critic-seconds`` and ``--seed`` hold for a person's edit too (it was probed with the defaults)."""
    from rewardsmith.config import EvolveConfig
    from rewardsmith.design.offline import OfflineDesigner
    from rewardsmith.intake.critic import Critic
    from rewardsmith.loop import Evolution

    task = load_task_file(TINY_TASK)
    settings = {"task": task.name, "designer": "offline", "seed": 5, "critic_seconds": 4.0}
    store = RunStore.create(tmp_path / "run", settings, task.path)
    c = store.add_candidate(1, task.baseline, "offline")
    store.update(c.id, status=SCORED, fitness=0.1, seeds=[0])
    probed = []
    real = Critic.check

    def check(self, code):
        probed.append((self.seed, self.limits.cpu_seconds, self.limits.wall_seconds, self.limits.memory_mb))
        return real(self, code)

    monkeypatch.setattr(Critic, "check", check)
    assert add_edit(store, task, c.id, task.baseline.replace("10.0 *", "20.0 *"), screen=False).candidate is not None
    loop = Evolution(store, task, EvolveConfig(**settings), OfflineDesigner())
    loop.intake.critic.check(task.baseline)
    assert probed == [(5, 4.0, 8.0, 1536)] * 2
