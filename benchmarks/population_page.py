"""The page's Population view on a large run: the server's time for ``/api/population`` (the candidates read
once, ``data.population``) beside ``output/population.population_view`` as ``show`` and the report call it
(the candidates read by each rule it asks), and the view's load in Debian's chromium, from navigation to the
tables drawn (issue 21's bar for the page of a 200-candidate run: under 1 s).

Builds tests/population_run.py's run and adds ``--candidates`` (default 200) scored offline children with
analyses (random cells and findings), without training.

    python benchmarks/population_page.py
    python benchmarks/population_page.py --candidates 500
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from population_run import REWARD, analysis, make_population_run  # noqa: E402

from rewardsmith.archive.records import CandidateResult  # noqa: E402
from rewardsmith.archive.store import SCORED, RunStore  # noqa: E402
from rewardsmith.output.population import population_view  # noqa: E402
from rewardsmith.people.web import data  # noqa: E402
from rewardsmith.people.web.server import PageServer  # noqa: E402


def build(root: Path, count: int) -> RunStore:
    store = make_population_run(root)
    rng = random.Random(0)
    ids = [c.id for c in store.candidates()]
    for k in range(count):
        c = store.add_candidate(3 + k // 10, REWARD.format(name=f"x{k}", k=1000 + k), "offline", parent=rng.choice(ids),
                                notes=rng.choice(["add_term: a", "scale_up: b", "reshape: c", "drop: d"]), island=k % 2)
        shares = {"a": rng.random(), "b": rng.random()}
        store.update(c.id, status=SCORED, fitness=rng.random(), seeds=[0], timesteps=1000,
                     result=CandidateResult(budget_fraction=1.0),
                     analysis=analysis(shares, speed=rng.uniform(-1, 1), effort=rng.random(),
                                       findings=(rng.choice(["no_progress", "early_termination"]),)))
        ids.append(c.id)
    return store


def timed(fn, times: int) -> float:
    """The median seconds of ``times`` calls."""
    out = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp) / "run", args.candidates)
        total = len(store.candidates())
        view = population_view(store)
        print(f"{total} candidates, {len(view['cells'])} behaviour cells, {len(view['operators'])} operator rows; "
              f"load average {os.getloadavg()[0]:.2f}")
        each = timed(lambda: population_view(store), args.loads)
        once = timed(lambda: data.population(store), args.loads)
        print(f"population_view, candidates read per rule (show, report): {1000 * each:.0f} ms")
        print(f"/api/population's data.population, candidates read once:  {1000 * once:.0f} ms "
              f"({each / once:.1f}x faster)")
        store.close()
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            print("no chromium: page load not measured")
            return
        from playwright.sync_api import sync_playwright

        server = PageServer(Path(tmp) / "run").start()
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
                page = browser.new_context().new_page()
                page.goto(server.url)
                loads = []
                for _ in range(args.loads):
                    page.goto("about:blank")
                    started = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{server.port}/#/population")
                    page.wait_for_selector("body[data-population] #cells tr[data-elite]")
                    loads.append(time.perf_counter() - started)
                browser.close()
        finally:
            server.close()
        print(f"Population view loaded in chromium (navigation to tables drawn): median "
              f"{1000 * statistics.median(loads):.0f} ms, max {1000 * max(loads):.0f} ms over {args.loads} loads "
              f"(target < 1000 ms)")


if __name__ == "__main__":
    main()
