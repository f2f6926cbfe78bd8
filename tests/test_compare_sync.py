"""The compare view with MP4 videos in a real browser (Debian's chromium driven by Playwright, as in
tests/test_serve.py): one control plays, pauses, scrubs and changes the speed of both videos, which stay
within one frame of each other; each video's component curves are drawn under it with a cursor on the
frame shown; the page says both start from the same reset seed; hostile component names show as text.

The runs are built in a real store without training: tiny H.264 videos encoded by output/video.py's
encoder from drawn frames, and their curves files as write_generation_video writes them."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.output.video import encode_mp4, frame_facts
from rewardsmith.people.web.server import PageServer
from rewardsmith.untrusted import printable
from conftest import TINY_TASK
from test_serve import CHROMIUM, CHROMIUM_ARGS, EVIL, HOSTILE, Page

FPS = 25.0                 # one frame: 40 ms
FRAMES = [60, 48]          # two episodes of different lengths (2.4 s and 1.9 s)
FRAME_S = 1 / FPS


def frames(n: int, colour: tuple) -> np.ndarray:
    """``n`` 48x32 frames: a white bar moving right over ``colour``."""
    out = np.zeros((n, 32, 48, 3), dtype=np.uint8)
    out[:] = colour
    for i in range(n):
        out[i, 8:24, (i % 43):(i % 43) + 5] = 255
    return out


def write_video(root: Path, name: str, n: int, colour: tuple, names: list[str]) -> None:
    """An MP4 and its curves file (one row per frame) in ``root/videos``."""
    (root / "videos").mkdir(exist_ok=True)
    (root / "videos" / f"{name}.mp4").write_bytes(encode_mp4(frames(n, colour), FPS))
    video = {"frames": n, "frame_steps": list(range(n)), "fps": FPS, "frame_ms": 1000 / FPS, "steps": n - 1,
             "reset_seed": 10_007}
    rows = [[None] * len(names)] + [[float(np.sin(i / 5 + k)) for k in range(len(names))] for i in range(1, n)]
    curves = {**frame_facts(video), "names": names, "total": [None] + [float(i) for i in range(1, n)], "rows": rows,
              "video": f"{name}.mp4", "start_seed": 7}
    (root / "videos" / f"{name}.json").write_text(json.dumps(curves))


def make_run(root: Path, names: list[str]) -> None:
    store = RunStore.create(root, {"task": "tiny-mountaincar", "designer": "offline", "seed": 7, "timesteps": 1000},
                            TINY_TASK)
    for k, fitness in enumerate([0.31, 0.42]):
        c = store.add_candidate(0, f"def compute_reward(state, action, next_state):\n    return {k}.0, {{}}\n", "offline")
        store.update(c.id, status=SCORED, fitness=fitness, fitness_std=0.0, seeds=[0], timesteps=1000,
                     result=CandidateResult(budget_fraction=1.0))
        write_video(root, f"gen0-{c.id}", FRAMES[k], [(200, 40, 40), (40, 40, 200)][k], names)
    store.set_meta("status", "finished")
    store.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    if CHROMIUM is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def compare(browser, tmp_path, request):
    make_run(tmp_path / "run", getattr(request, "param", ["speed", "height"]))
    server = PageServer(tmp_path / "run").start()
    view = Page(browser, server)
    view.page.goto(view.base + "/#/compare")
    view.page.wait_for_selector("body[data-pair]")
    yield view
    view.close()
    server.close()
    assert view.errors == [] and view.outside == [], (view.errors, view.outside)


TIMES = "[...document.querySelectorAll('.panel video')].map(v => v.currentTime)"


def in_sync(p) -> tuple[float, float]:
    """Both videos' positions, read in one script (the same moment)."""
    a, b = p.evaluate(TIMES)
    assert abs(a - b) <= FRAME_S + 1e-6, (a, b)
    return a, b


def at_rest(p, videos: str = ".panel video") -> tuple[float, float]:
    """Both videos' positions once paused and on one time: a seek is asynchronous, so this waits (up to 5 s)
    for them to agree within a frame, then reads them in one script."""
    times = f"[...document.querySelectorAll('{videos}')].map(v => v.currentTime)"
    try:
        p.wait_for_function(f"(() => {{ const t = {times}; return t.length === 2 && "
                            f"Math.abs(t[0] - t[1]) <= {FRAME_S} + 1e-6; }})()", timeout=5_000)
    finally:
        a, b = p.evaluate(times)
    assert abs(a - b) <= FRAME_S + 1e-6, (a, b)
    return a, b


def cursor(p, side: str) -> int:
    return int(p.get_attribute(f"#curves-{side}", "data-cursor"))


@pytest.mark.slow
def test_one_control_keeps_both_videos_within_one_frame(compare):
    p = compare.page
    assert p.evaluate("[...document.querySelectorAll('.panel video')].length") == 2  # MP4s, not sprites
    assert "Same start: both episodes begin from reset seed 10007 (the run's seed 7)" in p.inner_text("#start")
    assert cursor(p, "a") == 0 and cursor(p, "b") == 0

    p.keyboard.press(" ")  # play
    time.sleep(0.8)
    a, b = in_sync(p)
    assert a > 0.3, (a, b)  # both play
    time.sleep(0.3)
    in_sync(p)
    assert cursor(p, "a") > 0  # the cursor follows the frame shown
    # a follower that drifts (here: pushed 0.4 s ahead) is put back on the leader's clock
    p.evaluate("(() => { const vs = [...document.querySelectorAll('.panel video')];"
               " const v = vs[0].duration < vs[1].duration ? vs[0] : vs[1]; v.currentTime = v.currentTime + 0.4; })()")
    time.sleep(0.3)
    in_sync(p)
    p.keyboard.press(" ")  # pause: both on the same time
    a, b = at_rest(p)
    time.sleep(0.3)
    assert p.evaluate(TIMES) == [a, b]  # paused means paused
    shown = cursor(p, "a")
    assert shown == int(a * FPS + 1e-6) and cursor(p, "b") == int(b * FPS + 1e-6)

    # scrub: half-way through the longer video; the shorter one is at the same time
    p.eval_on_selector("#scrub", "s => { s.value = 500; s.dispatchEvent(new Event('input')); }")
    time.sleep(0.3)  # the seeks land (the page's CSP forbids eval: no JavaScript predicates to wait on)
    a, b = in_sync(p)
    assert abs(a - 1.2) <= FRAME_S, a
    assert cursor(p, "a") == 30 and cursor(p, "b") == 30

    # a quarter of the speed: both at 0.25x, still together
    p.select_option("#speed", "0.25")
    assert p.evaluate("[...document.querySelectorAll('.panel video')].map(v => v.playbackRate)") == [0.25, 0.25]
    p.keyboard.press(" ")
    time.sleep(0.8)
    a, b = in_sync(p)
    assert 1.2 < a < 1.2 + 0.8 * 0.25 + 0.15, a  # a quarter of the wall time went by
    p.select_option("#speed", "4")
    time.sleep(0.6)
    in_sync(p)
    p.keyboard.press(" ")
    in_sync(p)


@pytest.mark.slow
@pytest.mark.parametrize("compare", [[*HOSTILE[:4], "ok"]], indirect=True)
def test_hostile_component_names_show_as_text(compare):
    p = compare.page
    p.wait_for_selector("#curves-a svg")
    shown = p.inner_text("#curves-a") + p.evaluate("[...document.querySelectorAll('#curves-a title')].map(t => t.textContent).join('\\n')")
    for name in HOSTILE[:4]:
        assert name in shown, name
    assert p.evaluate("window.__pwned") is None
    assert p.evaluate("document.querySelectorAll('script').length") == 3  # the page's own (player.js, app.js, population.js)
    assert p.evaluate("document.querySelectorAll('[onerror], [onload], iframe, object, embed, img').length") == 0
    assert compare.dialogs == []


def test_curves_are_served_as_data_with_names_made_printable(tmp_path):
    """The curves file is read as data: names made printable, numbers finite or null, rows per frame;
    only beside a video inside the run's videos folder."""
    import http.client

    make_run(tmp_path / "run", [EVIL, "speed"])
    path = tmp_path / "run" / "videos" / "gen0-c0.json"
    raw = json.loads(path.read_text())
    raw["rows"][5][1] = 1e400  # not finite: Infinity in the file
    path.write_text(json.dumps(raw))
    server = PageServer(tmp_path / "run").start()
    try:
        def get(where):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", f"{where}?token={server.token}", headers={"Host": f"127.0.0.1:{server.port}"})
            response = conn.getresponse()
            return response, response.read()

        response, body = get("/curves/gen0-c0.mp4")
        curves = json.loads(body)
        assert response.status == 200 and len(curves["rows"]) == FRAMES[0] == len(curves["total"])
        assert curves["names"][0] == printable(EVIL, one_line=True)[:80] and curves["names"][1] == "speed"
        assert "\u202e" not in body.decode() and "\\u202e" in printable(EVIL)  # bidi shown, never applied
        assert curves["rows"][5][1] is None and curves["rows"][0] == [None, None]
        assert curves["reset_seed"] == 10_007 and curves["start_seed"] == 7
        for where in ("/curves/gen0-c0.json", "/curves/../run.db", "/curves/gen0-c9.mp4"):
            assert get(where)[0].status == 404, where
        response, body = get("/videos/gen0-c0.mp4")  # a browser seeks only where ranges are answered
        assert response.status == 200 and response.getheader("Accept-Ranges") == "bytes"
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", f"/videos/gen0-c0.mp4?token={server.token}",
                     headers={"Host": f"127.0.0.1:{server.port}", "Range": "bytes=4-11"})
        response = conn.getresponse()
        assert response.status == 206 and response.read() == body[4:12]
        assert response.getheader("Content-Range") == f"bytes 4-11/{len(body)}"
    finally:
        server.close()


@pytest.mark.slow
def test_tiles_and_the_candidate_view_play_mp4(compare):
    """The best-and-worst view plays the MP4s under its one control too; a candidate's own view shows its
    MP4 with the browser's controls and the component strip following it."""
    p = compare.page
    p.goto(compare.base + "/#/tiles")
    p.wait_for_selector("body[data-tiles]")
    assert p.evaluate("[...document.querySelectorAll('.tile video')].length") == 2
    p.keyboard.press(" ")
    time.sleep(0.6)
    p.keyboard.press(" ")
    a, b = at_rest(p, ".tile video")
    assert a > 0.2, (a, b)
    p.goto(compare.base + "/#/c/c0")
    p.wait_for_selector("#curves-rollout[data-cursor='0']")
    p.eval_on_selector("#rollout", "v => { v.currentTime = 1.0; }")
    p.wait_for_selector("#curves-rollout[data-cursor='25']")
    assert "step 25 of 59" in p.inner_text("#curves-rollout")
