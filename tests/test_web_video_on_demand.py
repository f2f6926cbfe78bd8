"""A candidate's rollout video rendered on demand from the page (``POST /api/video``, people/web/videos.py):
the token, Host/Origin and JSON checks as every change; an unknown candidate, an id that is a path, a
candidate with no checkpoint and a checkpoint that links out of the run are refused with a message; renders
run one at a time in the background, each candidate once however often it is asked, their progress pushed on
the event stream; a failure is a message, never a traceback; a real render (the sandboxed render and replay
jobs, as after a generation) gives an MP4 the server serves; and in a real browser the compare view says
"rendering video…", then plays the video beside the other one.

The runs are built in a real store without training: tiny policies written as plain numbers (the format
checkpoints carry), as tests/test_video_mp4.py does."""

import http.client
import json
import threading
import time

import pytest

from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.people.web import videos
from rewardsmith.people.web.server import PageServer
from test_compare_sync import at_rest, browser, write_video  # noqa: F401 - browser: the module's chromium fixture
from test_serve import Page, request
from test_video_mp4 import needs_pygame, run_with_checkpoints


def make_run(root):
    """c0 and c1 (generation 1) with checkpoints; c2 scored with none; c3 whose checkpoint links out of the run."""
    store, ids = run_with_checkpoints(root, {0: 1, 3: 2})
    for k in (2, 3):
        c = store.add_candidate(1, f"def compute_reward(state, action, next_state):\n    return {k}.0, {{}}\n", "offline")
        store.update(c.id, status=SCORED, fitness=0.05 * k, seeds=[0])
    outside = root.parent / "elsewhere-seed0.json"
    outside.write_text((root / "checkpoints" / f"{ids[0]}-seed0.json").read_text())
    store.checkpoint_path("c3", 0).symlink_to(outside)
    store.close()
    return ids


class FakeRender:
    """Stands in for write_generation_video: writes a small file where it would, records how many run at
    once, and waits for ``release`` (so a test can look while one is under way)."""

    def __init__(self, fail: str | None = None):
        self.calls, self.running, self.most = [], 0, 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.fail = fail

    def __call__(self, store, task, cid, generation, on_note):
        with self.lock:
            self.calls.append(cid)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.release.wait(10)
            if self.fail == "raise":
                raise RuntimeError("the render job died <script>alert(1)</script>")
            if self.fail == "note":
                on_note(f"video rendering failed for {task.name}: frames \u202eevil")
                return None
            out = store.root / "videos" / f"gen{generation}-{cid}.mp4"
            out.parent.mkdir(exist_ok=True)
            out.write_bytes(b"\x00\x00\x00\x18ftypmp42")
            return out
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def served(tmp_path):
    make_run(tmp_path / "run")
    server = PageServer(tmp_path / "run")
    fake = FakeRender()
    server.videos = videos.Renderer(server.root, render=fake)
    server.start()
    server.fake = fake
    yield server
    fake.release.set()
    server.close()


def ask(server, cid, **kw):
    kw.setdefault("origin", f"http://127.0.0.1:{server.port}")
    response, body = request(server, "POST", "/api/video", body={"candidate": cid}, **kw)
    return response.status, json.loads(body)


def test_the_endpoint_needs_the_token_the_pages_origin_and_a_json_post(served):
    origin = f"http://127.0.0.1:{served.port}"
    assert ask(served, "c0", token=False)[0] == 401
    assert ask(served, "c0", origin="http://evil.example")[0] == 403
    response, _ = request(served, "POST", "/api/video", body={"candidate": "c0"})  # no Origin: no change
    assert response.status == 403
    response, _ = request(served, "POST", "/api/video", body=b"candidate=c0", origin=origin,
                          content_type="application/x-www-form-urlencoded")
    assert response.status == 415
    response, _ = request(served, "GET", "/api/video?candidate=c0")
    assert response.status == 404
    response, _ = request(served, "POST", "/api/video", body={"candidate": 3}, origin=origin)
    assert response.status == 400
    assert served.fake.calls == []


def test_unknown_candidates_paths_and_candidates_without_a_checkpoint_are_refused_with_a_reason(served):
    for cid in ("c99", "../../etc/passwd", "c0/../c1", "..", "<script>"):
        status, body = ask(served, cid)
        assert status == 404 and "no candidate" in body["error"], (cid, body)
    status, body = ask(served, "c2")
    assert status == 409 and "c2 has no policy checkpoint" in body["error"]
    status, body = ask(served, "c3")  # its checkpoint is a link out of the run: not read
    assert status == 409 and "no policy checkpoint" in body["error"]
    assert served.fake.calls == []


def test_renders_run_one_at_a_time_each_candidate_once_and_are_pushed_on_the_event_stream(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request("GET", f"/api/events?token={served.token}", headers={"Host": f"127.0.0.1:{served.port}"})
    stream = conn.getresponse()
    status, first = ask(served, "c0")
    assert status == 200 and first["state"] in ("queued", "rendering") and first["request"] == 1
    assert ask(served, "c0")[1]["request"] == 1  # asked again: the same request, not a second render
    status, second = ask(served, "c1")
    assert second["state"] == "queued" and second["position"] == 0 and second["request"] == 2
    time.sleep(0.3)
    assert served.fake.calls == ["c0"]  # c1 waits for c0
    served.fake.release.set()
    assert served.videos.wait(10)
    assert served.fake.calls == ["c0", "c1"] and served.fake.most == 1
    statuses = served.videos.statuses()
    assert statuses["c0"]["state"] == statuses["c1"]["state"] == "ready"
    assert statuses["c0"]["video"] == "gen1-c0.mp4"
    status, again = ask(served, "c0")  # now it has a video: answered at once, nothing rendered
    assert again == {"candidate": "c0", "state": "ready", "video": "gen1-c0.mp4"} and served.fake.calls == ["c0", "c1"]
    pushed, deadline = None, time.monotonic() + 5
    while time.monotonic() < deadline:  # the stream's `event: video` messages, until both are ready
        line = stream.fp.readline().decode()
        if line.startswith("event: video"):
            pushed = json.loads(stream.fp.readline().decode()[len("data: "):])
            if all(pushed.get(c, {}).get("state") == "ready" for c in ("c0", "c1")):
                break
    assert pushed is not None and pushed["c1"] == {**statuses["c1"]}
    conn.close()
    state = json.loads(request(served, path="/api/state")[1])
    assert {c["id"]: c["video"] for c in state["candidates"]}["c1"] == "gen1-c1.mp4"


@pytest.mark.parametrize("fail, expected", [("raise", "RuntimeError: the render job died"),
                                            ("note", "video rendering failed for tiny-mountaincar")])
def test_a_failed_render_is_a_message_on_the_status_never_a_traceback(tmp_path, fail, expected):
    make_run(tmp_path / "run")
    fake = FakeRender(fail=fail)
    fake.release.set()
    renderer = videos.Renderer(tmp_path / "run", render=fake)
    store = RunStore(tmp_path / "run")
    renderer.request(store, "c0")
    assert renderer.wait(10)
    status = renderer.statuses()["c0"]
    assert status["state"] == "failed" and expected in status["error"] and "Traceback" not in status["error"]
    assert "\u202e" not in status["error"]  # made printable
    assert renderer.request(store, "c0")["request"] == 2  # asked again after a failure: tried again
    store.close()
    renderer.close()


@needs_pygame
@pytest.mark.slow
def test_a_real_render_on_demand_is_the_generation_videos_mp4_with_its_curves(tmp_path):
    """The real write_generation_video: the render job and the reward replay in the sandbox; the video is
    served from the run's videos/ with its curves, as the loop's own videos are."""
    make_run(tmp_path / "run")
    server = PageServer(tmp_path / "run").start()
    try:
        status, body = ask(server, "c1")
        assert status == 200 and body["state"] in ("queued", "rendering")
        assert server.videos.wait(240)
        done = server.videos.statuses()["c1"]
        assert done["state"] == "ready" and done["video"] == "gen1-c1.mp4", done
        response, video = request(server, path="/videos/gen1-c1.mp4")
        assert response.status == 200 and video[4:8] == b"ftyp"
        curves = json.loads(request(server, path="/curves/gen1-c1.mp4")[1])
        assert curves["names"] == ["effort", "energy_gain", "flag"] and len(curves["rows"]) > 1
        events = RunStore(tmp_path / "run").events("video")
        assert [e["candidate"] for e in events] == ["c1"] and events[0]["seed"] == 3
    finally:
        server.close()


@pytest.mark.slow
def test_the_compare_view_says_rendering_then_plays_the_video_and_a_candidate_without_a_checkpoint_says_so(
        browser, tmp_path):
    """c0 has a video, c1 only a checkpoint: the pair is the two; c1's side says "rendering video…" while its
    render is under way, then shows the video on the shared clock with its curves. c2's own view offers a
    render and says it has no checkpoint. (The render is a stand-in that writes a drawn MP4 when released;
    the real render is the test above.)"""
    make_run(tmp_path / "run")
    write_video(tmp_path / "run", "gen1-c0", 60, (200, 40, 40), ["speed"])

    class Drawn(FakeRender):
        def __call__(self, store, task, cid, generation, on_note):
            self.calls.append(cid)
            self.release.wait(20)
            write_video(store.root, f"gen{generation}-{cid}", 48, (40, 40, 200), ["speed"])
            return store.root / "videos" / f"gen{generation}-{cid}.mp4"

    server = PageServer(tmp_path / "run")
    server.videos = videos.Renderer(server.root, render=(drawn := Drawn()))
    server.start()
    view = Page(browser, server)
    try:
        p = view.page
        p.goto(view.base + "/#/compare")
        p.wait_for_selector("body[data-pair='c0 c1']")
        p.wait_for_selector("#rendering-b[data-state='rendering']", timeout=10_000)
        assert p.text_content("#rendering-b") == "rendering video…" and drawn.calls == ["c1"]
        assert p.query_selector("#panel-a video") is not None
        drawn.release.set()
        p.wait_for_selector("#rendering-b[data-state='shown'] video", timeout=10_000)
        p.wait_for_selector("#curves-b")
        assert p.text_content("#start").startswith("Same start")
        p.keyboard.press("Space")  # both play from the one control
        time.sleep(0.6)
        p.keyboard.press("Space")
        a, b = at_rest(p)  # paused, both on the one clock within a frame (1/25 s)
        assert a > 0.1, (a, b)
        p.goto(view.base + "/#/c/c2")
        p.click("#render-video")
        p.wait_for_selector("#render-note:has-text('no policy checkpoint')")
        assert p.text_content("#render-note").startswith("no video: c2 has no policy checkpoint")
    finally:
        drawn.release.set()
        view.close()
        server.close()
    # chromium logs the refusal of c2's render (409) as a failed load; nothing else may be logged
    errors = [e for e in view.errors if "status of 409 (Conflict)" not in e]
    assert len(errors) == len(view.errors) - 1 and errors == [] and view.outside == [], (view.errors, view.outside)
