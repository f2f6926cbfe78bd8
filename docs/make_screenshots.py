"""Retakes docs/page-compare.png and docs/page-population.png (argument ``population``: only that one).

The compare view: a run built in a real store for the picture, with two mountain-car policies rendered by
the real render job into MP4s from the same start, and their component curves replayed in the sandboxed
reward process (output/video.py), shown in Debian's chromium.

    python docs/make_screenshots.py            # needs pygame, playwright and chromium (the test extra)

The two policies are written as plain numbers (no training): one pushes with the car's velocity at full
force (it swings up and reaches the flag), the other at a fifth of it (it cannot)."""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
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


def build(root: Path) -> None:
    task = load_task("mountaincar-reach")
    store = RunStore.create(root, {"task": task.name, "designer": "offline", "seed": 0, "timesteps": 20000},
                            task.path)
    store.set_meta("random_fitness", -0.2)
    for k, (force, fitness) in enumerate([(1.0, 0.93), (0.2, 0.41)]):
        c = store.add_candidate(1, task.baseline, "baseline" if k == 0 else "offline", parent=None if k == 0 else "c0")
        store.update(c.id, status=SCORED, fitness=fitness, fitness_std=0.0, seeds=[k], timesteps=20000,
                     result=CandidateResult(budget_fraction=1.0))
        path = store.checkpoint_path(c.id, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"policy": pushing(force)}))
        print(write_generation_video(store, task, c.id, 1, on_note=print))
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
            page.goto(f"http://127.0.0.1:{server.port}/#/compare")
            page.wait_for_selector("body[data-pair]")
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
