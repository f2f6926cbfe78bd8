"""Retakes docs/page-watch.png, docs/page-candidate.png, docs/page-compare.png and docs/page-population.png
(argument ``population``: only that one).

The watch, candidate and compare views: a run built in a real store for the picture (two generations of
mountain-car candidates, one rejected by the critic, a person's preferences and feedback), each
generation's best with a video rendered by the real render job into an MP4 from the run's common start and
its component curves replayed in the sandboxed reward process (output/video.py), as a run does. The compare
view's pair holds a candidate with no video: the page renders it on demand (POST /api/video),
and the picture is taken once it plays beside the other. Shown in Debian's chromium.

    python docs/make_screenshots.py            # needs pygame, playwright and chromium (the test extra)

The policies are written as plain numbers (no training): each pushes with the car's velocity, at full force
(it swings up and reaches the flag) or a fraction of it (too little force cannot)."""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import REJECTED, SCORED, RunStore
from rewardsmith.output.video import write_generation_video
from rewardsmith.people.web.server import PageServer
from rewardsmith.sandbox.policy import FORMAT, encode_array
from rewardsmith.task import load_task

DOCS = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def pushing(force: float) -> dict:
    """A policy that pushes in the direction the car moves: tanh(200 v), scaled by ``force``."""
    return {"format": FORMAT, "obs_shape": [2], "activation": "tanh", "normalize": None,
            "layers": [{"weight": encode_array(np.array([[0.0, 200.0]])), "bias": encode_array(np.array([0.0]))}],
            "head": {"weight": encode_array(np.array([[force]])), "bias": encode_array(np.array([0.0]))},
            "action": {"type": "box", "low": encode_array(np.array([-1.0])), "high": encode_array(np.array([1.0])),
                       "squash": False}}


CANDIDATES = [  # generation, force of its policy, fitness, parent, weight of the flag bonus in its reward
    (0, 0.6, 0.62, None, 10.0), (0, 0.2, 0.41, "c0", 4.0), (1, 1.0, 0.93, "c0", 25.0), (1, 0.8, 0.88, "c0", 18.0)]


def build(root: Path) -> None:
    from rewardsmith.archive.records import ComponentTrend

    task = load_task("mountaincar-reach")
    store = RunStore.create(root, {"task": task.name, "designer": "offline", "seed": 0, "timesteps": 20000},
                            task.path)
    store.set_meta("random_fitness", -0.2)
    for k, (generation, force, fitness, parent, flag) in enumerate(CANDIDATES):
        code = task.baseline.replace("flag = 10.0 *", f"flag = {flag} *")
        c = store.add_candidate(generation, code, "baseline" if k == 0 else "offline", parent=parent)
        trends = {"energy_gain": ComponentTrend([0.02 * force * i for i in range(10)], 0.18 * force),
                  "flag": ComponentTrend([0.0] * 5 + [flag * force * i / 100 for i in range(5)], flag * force / 25),
                  "effort": ComponentTrend([-0.05 - 0.01 * force * i for i in range(10)], -0.05 - 0.09 * force)}
        store.update(c.id, status=SCORED, fitness=fitness, fitness_std=0.0, seeds=[k], timesteps=20000,
                     result=CandidateResult(budget_fraction=1.0, components=trends),
                     reflection=f"The flag bonus of {flag:g} decides more of the return than the energy shaping.")
        path = store.checkpoint_path(c.id, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"policy": pushing(force)}))
        if k in (0, 2):  # each generation's best, as a run renders after its generation
            print(write_generation_video(store, task, c.id, generation, on_note=print))
        if k == 1:
            store.add_candidate(0, "import os\n" + code, "offline", parent="c0", status=REJECTED,
                                reason="REJECTED\nline 1: imports os (the reward process allows numpy and math only)")
    store.add_preference("c3", "c0", reason="[reaches the goal] swings up in two pushes", source="page")
    store.add_preference("c0", "c1", reason="[faster]", source="page")
    store.add_feedback("c1 rocks back and forth and never commits; reward the swing, not the height", "c1")
    store.set_meta("status", "finished")
    store.close()


def shoot(root: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = PageServer(root).start()
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1100, "height": 760}).new_page()
            page.goto(server.url)
            page.wait_for_selector("#candidates tr[data-id='c4']")
            time.sleep(0.5)
            page.screenshot(path=str(DOCS / "page-watch.png"))
            page.goto(f"http://127.0.0.1:{server.port}/#/c/c3")
            page.wait_for_selector("#rollout")
            page.eval_on_selector("#rollout", "v => { v.currentTime = 2.5; }")
            time.sleep(1.0)
            page.screenshot(path=str(DOCS / "page-candidate.png"))
            page.goto(f"http://127.0.0.1:{server.port}/#/compare")
            page.wait_for_selector("body[data-pair]")
            page.wait_for_selector(".rendering[data-state='shown'] video", timeout=240_000)  # rendered on demand
            page.eval_on_selector("#scrub", "s => { s.value = 420; s.dispatchEvent(new Event('input')); }")
            time.sleep(1.0)
            page.screenshot(path=str(DOCS / "page-compare.png"))
            browser.close()
    finally:
        server.close()


def shoot_population(root: Path) -> None:
    """docs/page-population.png: the population view (#/population) of the run tests/population_run.py builds
    (two islands, five behaviour cells, a duplicate and a near-duplicate, offline operators' statistics)."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(DOCS.parent / "tests"))
    from population_run import make_population_run

    make_population_run(root).close()
    server = PageServer(root).start()
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1100, "height": 1000}).new_page()
            page.goto(server.url)
            page.goto(f"http://127.0.0.1:{server.port}/#/population")
            page.wait_for_selector("body[data-population]")
            time.sleep(0.5)
            page.screenshot(path=str(DOCS / "page-population.png"), full_page=True)
            browser.close()
    finally:
        server.close()


if __name__ == "__main__":  # `python docs/make_screenshots.py population`: only the population view
    if CHROMIUM is None:
        sys.exit("no chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        if sys.argv[1:] != ["population"]:
            build(Path(tmp) / "run")
            shoot(Path(tmp) / "run")
            print(DOCS / "page-compare.png")
        shoot_population(Path(tmp) / "population")
    print(DOCS / "page-population.png")
