"""`rewardsmith serve`: the run's page on 127.0.0.1. Plain HTTP for the refusals (token, Host, Origin,
JSON-only changes, files outside the run) and the event stream's latency; Debian's chromium driven by
Playwright for the page itself: it follows the store live, a pair is reviewed by keyboard alone and the
preferences land in the store, and hostile text shows as text in every view with no script run.

The runs are built in a real store without training (scored candidates, small GIFs)."""

import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from rewardsmith.archive.records import CandidateResult, ComponentTrend
from rewardsmith.archive.store import REJECTED, SCORED, TRAINING, RunStore
from rewardsmith.people.web.server import PageServer
from conftest import TINY_TASK
from population_run import EVIL, HOSTILE, REWARD  # the hostile strings and reward shared with the population run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FITNESS = [0.3141, 0.4271, 0.5393, 0.6619]  # distinctive, so the page can be searched for them


def gif(colour: str, frames: int = 12) -> bytes:
    images = []
    for i in range(frames):
        image = Image.new("RGB", (48, 32), colour)
        ImageDraw.Draw(image).rectangle([i * 3, 8, i * 3 + 5, 24], fill="white")
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


def make_run(root: Path, hostile: bool = False) -> RunStore:
    """Four scored candidates with videos (one with hostile text everywhere a run holds text, when
    ``hostile``), a rejected one, feedback and an event."""
    evil = EVIL if hostile else "plain"
    store = RunStore.create(root, {"task": f"tiny {evil}" if hostile else "tiny-mountaincar", "designer": "offline",
                                   "model": evil if hostile else None, "timesteps": 1000}, TINY_TASK)
    store.set_meta("random_fitness", 0.1)
    parent = None
    for k, fitness in enumerate(FITNESS):
        c = store.add_candidate(k // 2, REWARD.format(name=evil, k=k), "baseline" if k == 0 else "offline",
                                parent=parent, notes=evil if hostile else None)
        components = {"speed": ComponentTrend([0.1, 0.2, 0.3], 0.3), (evil if hostile else "height"):
                      ComponentTrend([0.3, 0.1, 0.2], 0.2)}
        store.update(c.id, status=SCORED, fitness=fitness, fitness_std=0.0, seeds=[0], timesteps=1000,
                     result=CandidateResult(budget_fraction=1.0, components=components),
                     reflection=f"reflection {evil}")
        (root / "videos").mkdir(exist_ok=True)
        (root / "videos" / f"gen{k // 2}-{c.id}.gif").write_bytes(gif(["red", "green", "blue", "purple"][k]))
        parent = c.id
    store.add_candidate(2, f"# {evil}\nimport os\n", "offline", parent=parent, status=REJECTED,
                        reason=f"REJECTED\nline 2: imports os {evil}")
    store.add_feedback(f"feedback {evil}", "c1")
    store.event("note", {"message": evil})
    if hostile:
        store.add_preference("c0", "c3", reason=f"reason {evil}", source="test")
    store.set_meta("status", "finished")
    return store


@pytest.fixture
def page(tmp_path):
    make_run(tmp_path / "run").close()
    server = PageServer(tmp_path / "run").start()
    yield server
    server.close()


def request(server, method="GET", path="/api/state", token=True, host=None, origin=None, body=None,
            content_type="application/json", cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    if token:
        path += ("&" if "?" in path else "?") + f"token={server.token if token is True else token}"
    headers = {"Host": host or f"127.0.0.1:{server.port}"}
    if origin:
        headers["Origin"] = origin
    if cookie:
        headers["Cookie"] = cookie
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    return response, response.read()


# ------------------------------------------------------------------ refusals over plain HTTP


def test_binds_loopback_and_every_request_needs_the_token(page):
    assert page.httpd.server_address[0] == "127.0.0.1"
    assert re.fullmatch(rf"http://127\.0\.0\.1:{page.port}/\?token=[\w-]{{30,}}", page.url)
    for path in ("/", "/api/state", "/static/app.js", "/videos/gen0-c0.gif", "/api/events"):
        response, body = request(page, path=path, token=False)
        assert response.status == 401, path
        response, _ = request(page, path=path, token="wrong" + page.token[5:])
        assert response.status == 401, path
    response, body = request(page, path="/api/state")
    assert response.status == 200 and json.loads(body)["best"]["id"] == "c3"


def test_the_token_becomes_an_httponly_strict_cookie(page):
    response, _ = request(page, path="/")
    assert response.status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and page.token in cookie
    response, body = request(page, path="/", token=False, cookie=cookie.split(";")[0])
    assert response.status == 200 and b'src="/static/app.js"' in body
    assert "script-src 'self'" in response.getheader("Content-Security-Policy")
    assert "'unsafe-inline'" not in response.getheader("Content-Security-Policy")


def test_host_and_origin_are_checked(page):
    """DNS rebinding: a hostile name resolving to 127.0.0.1 still sends its own Host; a page elsewhere
    sends its own Origin."""
    for host in ("evil.example", f"evil.example:{page.port}", f"127.0.0.1.evil.example:{page.port}"):
        response, _ = request(page, host=host)
        assert response.status == 403, host
    assert request(page, host=f"localhost:{page.port}")[0].status == 200
    assert request(page, host="localhost:9000")[0].status == 200  # an ssh tunnel's local port
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{page.port + 1}"):
        response, _ = request(page, origin=origin)
        assert response.status == 403, origin


def test_changes_are_json_posts_from_the_page_itself(page, tmp_path):
    own = f"http://127.0.0.1:{page.port}"
    prefer = {"a": "c1", "b": "c2", "outcome": "a", "reason": "steadier"}
    assert request(page, "POST", "/api/prefer", body=prefer)[0].status == 403  # no Origin
    assert request(page, "POST", "/api/prefer", origin="http://evil.example", body=prefer)[0].status == 403
    form = b"a=c1&b=c2&outcome=a"
    for kind in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        assert request(page, "POST", "/api/prefer", origin=own, body=form, content_type=kind)[0].status == 415
    assert request(page, "GET", "/api/prefer?a=c1&b=c2&outcome=a")[0].status == 404
    assert RunStore(tmp_path / "run").preferences() == []
    response, body = request(page, "POST", "/api/prefer", origin=own, body=prefer)
    assert response.status == 200
    answer = json.loads(body)
    assert answer["fitness"] == {"c1": FITNESS[1], "c2": FITNESS[2]}  # revealed once answered
    rows = RunStore(tmp_path / "run").preferences()
    assert [(r["preferred"], r["other"], r["outcome"], r["reason"], r["source"]) for r in rows] == [
        ("c1", "c2", "better", "steadier", "page")]
    response, body = request(page, "POST", "/api/prefer", origin=own, body={**prefer, "b": "c99"})
    assert response.status == 400 and "no candidate 'c99'" in json.loads(body)["error"]
    for bad in ({"shown": ["c1", "c1"], "best": "c1", "worst": "c1"}, {"shown": ["c1", "c2"], "best": "c1", "worst": "c3"},
                {"shown": "c1 c2", "best": "c1", "worst": "c2"}):
        response, body = request(page, "POST", "/api/best-worst", origin=own, body=bad)
        assert response.status == 400 and "shown is 2 to 9 distinct ids" in json.loads(body)["error"], bad
    response, body = request(page, "POST", "/api/feedback", origin=own, body={"text": "lands on its back", "candidate": "c2"})
    assert response.status == 200
    assert RunStore(tmp_path / "run").feedback()[-1]["text"] == "lands on its back"


@pytest.mark.slow
def test_an_edit_from_the_page_is_admitted_as_rewardsmith_edit_admits_it(page, tmp_path):
    """The critic and screening judge it (real sandboxed jobs); accepted, it is a new human candidate;
    rejected, every reason comes back and the code is kept as a draft."""
    own = f"http://127.0.0.1:{page.port}"
    good = REWARD.format(name="edited by hand", k=7)
    response, body = request(page, "POST", "/api/edit", origin=own, body={"parent": "c1", "code": good})
    assert response.status == 200, body
    answer = json.loads(body)
    assert answer["accepted"] and answer["candidate"] == "c1e1", answer
    edited = RunStore(tmp_path / "run").candidate("c1e1")
    assert (edited.origin, edited.parent, edited.status, edited.code) == ("human", "c1", "pending", good)
    response, body = request(page, "POST", "/api/edit", origin=own,
                             body={"parent": "c1", "code": "import os\n" + good, "screen": False})
    answer = json.loads(body)
    assert response.status == 200 and not answer["accepted"], answer
    assert "os" in answer["report"] and answer["draft"] == "edits/c1e2.draft.py"
    assert (tmp_path / "run" / answer["draft"]).read_text().startswith("import os")
    unchanged = RunStore(tmp_path / "run").candidate("c1").code
    response, body = request(page, "POST", "/api/edit", origin=own, body={"parent": "c1", "code": unchanged})
    assert response.status == 400 and "same as c1's" in json.loads(body)["error"]
    assert request(page, "POST", "/api/edit", body={"parent": "c1", "code": good})[0].status == 403  # no Origin


def test_no_cors_headers_and_only_files_inside_the_run(page, tmp_path):
    secret = tmp_path / "secret.gif"
    secret.write_bytes(gif("black"))
    (tmp_path / "run" / "videos" / "gen9-link.gif").symlink_to(secret)
    (tmp_path / "run" / "videos" / "gen9-db.gif").symlink_to(tmp_path / "run" / "run.db")  # inside the run, not a video
    for path in ("/videos/gen0-c0.gif", "/api/state", "/static/app.js", "/sprites/gen0-c0.gif"):
        response, _ = request(page, path=path, origin=f"http://127.0.0.1:{page.port}")
        assert response.status == 200, path
        assert not [h for h in response.getheaders() if h[0].lower().startswith("access-control")]
    for path in ("/videos/gen9-link.gif", "/videos/gen9-db.gif", "/sprites/gen9-db.gif", "/videos/gen1-../../run.db",
                 "/videos/..%2frun.db", "/videos/../run.db", "/videos/gen0-..%2f..%2fsecret.gif",
                 "/sprites/gen9-link.gif", "/static/../server.py", "/static/index.html/../../server.py",
                 "/run.db", "/config.json"):
        response, body = request(page, path=path)
        assert response.status == 404, path
        assert b"GIF" not in body and b"SQLite" not in body


def test_events_reach_a_client_within_two_seconds(page, tmp_path):
    """The server-sent events stream sends the state again after a write by another connection to the
    store (as a run in another process writes it)."""
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    conn.request("GET", f"/api/events?token={page.token}", headers={"Host": f"127.0.0.1:{page.port}"})
    response = conn.getresponse()
    assert response.getheader("Content-Type").startswith("text/event-stream")

    def next_state():
        lines = []
        while True:
            line = response.fp.readline().decode()
            if line == "\n" and lines:
                break
            lines.append(line)
        return json.loads(next(ln for ln in lines if ln.startswith("data: "))[6:])

    assert len(next_state()["candidates"]) == 5
    writer = RunStore(tmp_path / "run")
    latencies = []
    for i in range(3):
        started = time.monotonic()
        writer.add_candidate(3, REWARD.format(name=f"new{i}", k=i), "offline")
        state = next_state()
        latencies.append(time.monotonic() - started)
        assert len(state["candidates"]) == 6 + i
    assert max(latencies) < 2.0, latencies
    conn.close()


def test_serve_command_prints_the_address(tmp_path):
    make_run(tmp_path / "run").close()
    process = subprocess.Popen([sys.executable, "-c", "from rewardsmith.cli import main; main()", "serve",
                                str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        assert match, line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", f"/api/state?token={match.group(2)}")
        assert json.loads(conn.getresponse().read())["task"] == "tiny-mountaincar"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_evolve_serve_serves_the_run_while_it_runs(tmp_path):
    """`evolve --serve` prints the page's address and the page shows the run as it starts (the test
    stops the run with Ctrl-C once the baseline is in the store; the run is resumable)."""
    env = {**os.environ, "REWARDSMITH_CACHE": str(tmp_path / "cache")}
    env.pop("REWARDSMITH_MODEL", None)
    process = subprocess.Popen([sys.executable, "-c", "from rewardsmith.cli import main; main()", "evolve", "--task",
                                str(TINY_TASK), "--iterations", "1", "--samples", "1", "--final-seeds", "0",
                                "--out", str(tmp_path / "run"), "--serve"],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                               start_new_session=True)
    try:
        match = None
        while match is None:
            line = process.stderr.readline()
            assert line, "evolve ended without printing the page's address"
            match = re.search(r"the run's page: http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        deadline = time.monotonic() + 30
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
            conn.request("GET", f"/api/state?token={match.group(2)}")
            state = json.loads(conn.getresponse().read())
            if state["candidates"]:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["task"] == "tiny-mountaincar" and state["candidates"][0]["origin"] == "baseline"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130


# ------------------------------------------------------------------ --interactive pauses


class Pause:
    """``evolve --interactive``'s pause after a generation (cli_evolve._pause), run in a thread as the loop would,
    with standard input a pipe the test may type into."""

    def __init__(self, store, monkeypatch, page=None, timeout=None):
        from rewardsmith.cli_evolve import _pause
        from rewardsmith.task import load_task_file
        from rewardsmith.output.view import LiveView

        read, self.write = os.pipe()
        monkeypatch.setattr(sys, "stdin", os.fdopen(read))
        between = _pause(store, load_task_file(TINY_TASK), LiveView(store), page, timeout)
        self.result, self.started = None, time.monotonic()
        self.thread = threading.Thread(target=lambda: setattr(self, "result", between(3)), daemon=True)
        self.thread.start()

    def type(self, text: str) -> None:
        os.write(self.write, text.encode())

    def answer(self, timeout: float = 10) -> tuple[bool, float]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the pause was not answered"
        return self.result, time.monotonic() - self.started


def test_a_pause_is_answered_on_the_page_or_the_terminal(page, tmp_path, monkeypatch):
    store = RunStore(tmp_path / "run")
    own = f"http://127.0.0.1:{page.port}"
    assert request(page, "POST", "/api/decide", origin=own, body={"generation": 3, "action": "continue"})[0].status == 409
    pause = Pause(store, monkeypatch, page)
    deadline = time.monotonic() + 5
    while json.loads(request(page)[1])["waiting"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert json.loads(request(page)[1])["waiting"]["generation"] == 3
    assert request(page, "POST", "/api/decide", origin=own, body={"generation": 2, "action": "stop"})[0].status == 409
    assert request(page, "POST", "/api/decide", body={"generation": 3, "action": "stop"})[0].status == 403
    assert request(page, "POST", "/api/decide", origin=own, body={"generation": 3, "action": "stop"})[0].status == 200
    assert pause.answer()[0] is False  # stopped from the page
    assert json.loads(request(page)[1])["waiting"] is None
    pause = Pause(store, monkeypatch, page)
    pause.type("c\n")
    assert pause.answer()[0] is True  # the terminal still answers


def test_a_pause_continues_by_itself_after_its_timeout(tmp_path, monkeypatch):
    store = make_run(tmp_path / "run")
    result, took = Pause(store, monkeypatch, timeout=0.5).answer()
    assert result is True and 0.5 <= took < 5


def test_pause_timeout_needs_interactive(tmp_path):
    from conftest import invoke

    result = invoke("evolve", "--task", TINY_TASK, "--pause-timeout", "5", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "only with --interactive" in result.output
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ the page in a real browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    if CHROMIUM is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser page on the server that notes every console error, page error, dialog and request
    that leaves 127.0.0.1 (aborted: never the network). The page's Content-Security-Policy forbids
    eval, so waits here are selectors, not JavaScript predicates."""

    def __init__(self, browser, server):
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.errors, self.dialogs, self.outside = [], [], []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.base = f"http://127.0.0.1:{server.port}"
        self.page.goto(server.url)

    def _route(self, route):
        if route.request.url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def close(self):
        self.context.close()


@pytest.fixture
def opened(browser, page):
    view = Page(browser, page)
    yield view
    view.close()
    assert view.errors == [] and view.outside == [], (view.errors, view.outside)


@pytest.mark.slow
def test_the_page_follows_the_store_live(opened, tmp_path):
    """Written from here, as a run in another process writes its store: a new candidate, its training
    progress and its score appear on the open page within 2 s each."""
    p = opened.page
    p.wait_for_selector("#candidates tr[data-id='c3'].best")
    assert "random 0.1" in p.inner_text("#fitness") and "baseline 0.314" in p.inner_text("#fitness")
    store = RunStore(tmp_path / "run")
    started = time.monotonic()
    c = store.add_candidate(3, REWARD.format(name="live", k=5), "offline", parent="c3")
    store.update(c.id, status=TRAINING)
    p.wait_for_selector(f"#candidates tr[data-id='{c.id}'].training", timeout=2000)
    appeared = time.monotonic() - started
    started = time.monotonic()
    store.append_log(c.id, "seed=0 step=500 reward/step=0.1 native/step=0.1 fitness=- speed=0.1")
    p.wait_for_selector(f"#candidates tr[data-id='{c.id}'] .status:text-is('training 50%')", timeout=2000)
    p.wait_for_selector("#training progress[value='0.5']", timeout=2000)
    progressed = time.monotonic() - started
    started = time.monotonic()
    store.update(c.id, status=SCORED, fitness=0.9, seeds=[0], timesteps=1000,
                 result=CandidateResult(budget_fraction=1.0))
    store.event("generation_done", {"generation": 3})
    p.wait_for_selector(f"#candidates tr[data-id='{c.id}'].best", timeout=2000)  # the run's new best
    assert f"best {c.id} 0.9" in p.inner_text("#headline")
    assert "generation_done" in p.inner_text("#events")
    scored = time.monotonic() - started
    assert max(appeared, progressed, scored) < 2.0, (appeared, progressed, scored)


@pytest.mark.slow
def test_a_pair_reviewed_by_keyboard_alone(opened, tmp_path):
    p = opened.page
    p.goto(opened.base + "/#/compare")
    p.wait_for_selector("body[data-pair]")
    first = p.get_attribute("body", "data-pair").split()
    text = p.inner_text("body")
    assert not any(f"{f:.4g}" in text for f in FITNESS), text  # every fitness hidden until the person answers
    assert "fitness hidden while you compare" in p.inner_text("#headline")

    # one control drives both videos: play, pause, scrub; the two show the same frame
    p.keyboard.press(" ")
    time.sleep(0.5)
    frames = p.evaluate("[...document.querySelectorAll('canvas')].map(c => Number(c.dataset.frame))")
    assert frames[0] > 0 and abs(frames[0] - frames[1]) <= 1, frames
    p.keyboard.press(" ")
    p.eval_on_selector("#scrub", "s => { s.value = 500; s.dispatchEvent(new Event('input')); }")
    frames = p.evaluate("[...document.querySelectorAll('canvas')].map(c => Number(c.dataset.frame))")
    assert frames == [6, 6], frames  # 12 frames of 80 ms each: half-way is frame 6 in both

    def answered(n):
        p.wait_for_selector(f"body[data-answers='{n}']", timeout=5000)
        return RunStore(tmp_path / "run").preferences()

    p.keyboard.press("ArrowLeft")
    rows = answered(1)
    assert [(r["preferred"], r["other"], r["outcome"]) for r in rows] == [(first[0], first[1], "better")]
    assert re.search(rf"{first[0]} better than {first[1]}\. Fitness: {first[0]} 0\.\d+", p.inner_text("#answer"))
    second = p.get_attribute("body", "data-pair").split()
    p.keyboard.press("ArrowRight")
    assert answered(2)[-1]["preferred"] == second[1]
    p.keyboard.press("ArrowDown")
    assert answered(3)[-1]["outcome"] == "equal"
    p.keyboard.press("s")
    assert answered(4)[-1]["outcome"] == "unsure"
    p.keyboard.press("z")
    rows = answered(3)
    assert len(rows) == 3 and len(RunStore(tmp_path / "run").preferences(withdrawn=True)) == 4
    p.keyboard.press("2")
    p.keyboard.press("3")
    p.keyboard.press("9")
    p.keyboard.press("9")  # a tag pressed twice is off again
    p.keyboard.press("t")
    p.keyboard.type("it keeps the cart still")
    p.keyboard.press("Enter")
    p.keyboard.press("ArrowLeft")
    assert answered(4)[-1]["reason"] == "[faster] [steadier] it keeps the cart still"
    assert all(r["source"] == "page" for r in rows)
    p.goto(opened.base + "/#/")
    # the undone "can't tell" is gone (the view shows the last state pushed, then the next one)
    p.wait_for_selector("#preferences p:has-text('4 answers (4 informative)')", timeout=2000)


@pytest.mark.slow
def test_a_pause_continued_from_the_page(opened, page, tmp_path, monkeypatch):
    p = opened.page
    p.wait_for_selector("#candidates")
    pause = Pause(RunStore(tmp_path / "run"), monkeypatch, page)
    p.wait_for_selector("#waiting:has-text('Generation 3 is done')", timeout=2000)
    p.click("#continue")
    assert pause.answer()[0] is True
    p.wait_for_selector("#waiting", state="detached", timeout=2000)


@pytest.mark.slow
def test_best_and_worst_of_k_tiled_by_keyboard(opened, tmp_path):
    """ICPL's view: K videos tiled under one control; the best picked, then the worst, by number keys;
    stored as what that says in pairs (the best over each other, each other over the worst)."""
    p = opened.page
    p.goto(opened.base + "/#/tiles")
    p.wait_for_selector("body[data-tiles]")
    shown = p.get_attribute("body", "data-tiles").split()
    assert shown == ["c3", "c2", "c1", "c0"]  # every candidate with a video, the latest generations first
    assert not any(f"{f:.4g}" in p.inner_text("body") for f in FITNESS)
    p.keyboard.press(" ")
    time.sleep(0.4)
    p.keyboard.press(" ")
    frames = p.evaluate("[...document.querySelectorAll('canvas')].map(c => Number(c.dataset.frame))")
    assert len(set(frames)) == 1 and frames[0] > 0, frames  # paused: all on one frame
    p.keyboard.press("3")  # best: c1
    p.keyboard.press("3")  # the same again is not the worst
    p.keyboard.press("1")  # worst: c3
    p.wait_for_selector("body[data-answers='1']")
    rows = RunStore(tmp_path / "run").preferences()
    assert sorted((r["preferred"], r["other"]) for r in rows) == sorted(
        [("c1", "c3"), ("c1", "c2"), ("c1", "c0"), ("c2", "c3"), ("c0", "c3")])
    assert "c1 best, c3 worst. Fitness: c3 0.6619" in p.inner_text("#answer")
    p.keyboard.press("z")
    p.wait_for_selector("#answer:has-text('withdrawn')")
    assert RunStore(tmp_path / "run").preferences() == []


@pytest.mark.slow
def test_hostile_text_shows_as_text_in_every_view(browser, tmp_path):
    make_run(tmp_path / "evil", hostile=True).close()
    server = PageServer(tmp_path / "evil").start()
    view = Page(browser, server)
    p = view.page
    try:
        shown = []
        for route, ready in [("#/", "#candidates"), *((f"#/c/c{i}", "pre.code") for i in range(5)),
                             ("#/population", "body[data-population]"), ("#/compare", "body[data-pair]"),
                             ("#/tiles", "body[data-tiles]")]:
            p.goto(view.base + "/" + route)
            p.wait_for_selector(ready)
            p.wait_for_selector("body[data-view]:not([data-view=''])")
            time.sleep(0.2)
            shown.append(p.inner_text("body"))
            assert p.evaluate("window.__pwned") is None, route
            assert p.evaluate("document.querySelectorAll('script').length") == 3, route  # the page's own (player.js, app.js, population.js)
            assert p.evaluate("document.querySelectorAll('[onerror], [onload], iframe, object, embed').length") == 0
            assert p.evaluate("[...document.querySelectorAll('a')].filter(a => !a.getAttribute('href')"
                              ".startsWith('#/')).length") == 0, route
            assert "\u202e" not in shown[-1] and "\u2066" not in shown[-1], route
        watch, candidate = shown[0], shown[1]
        assert HOSTILE[0] in watch and "reason " in watch  # the model name, a rejection, feedback, a conflict's reason
        for text in HOSTILE[:4]:
            assert text in candidate, text  # code, notes, component name, reflection, diff
        assert "\\u202eevil\\u202c" in candidate and "zero\\u200bwidth" in candidate
        assert view.dialogs == [] and view.errors == [] and view.outside == [], (view.dialogs, view.errors, view.outside)
    finally:
        view.close()
        server.close()
