"""The run's page (``rewardsmith serve``) on a large run: how long the page takes to load, and how long a
store write takes to reach an open page.

Builds a synthetic run of ``--candidates`` candidates (default 200) in a real run store, without
training: 20 generations, each scored candidate with one seed's result of 20 training snapshots and 4
reward components, some rejected with a reason, a video for each generation's best. Then, in Debian's
chromium driven by Playwright (as tests/test_serve.py does):

- page load: from navigation to the watch view's table holding every candidate (median of ``--loads``
  fresh loads), after a store write (the server builds the state anew) and with the store unchanged
  (the server's last state is reused), and the server's time for ``/api/state`` alone;
- event latency: a candidate added to the store from this process (as a run in another process would),
  until its row is on the open page (``--events`` writes; median and max);
- the serving process's CPU time while one page is open, with the store unchanged and with a write a
  second (in ``evolve --serve`` that process is the loop's; trainings run in processes of their own).

    python benchmarks/serve.py                  # 200 candidates, 5 loads, 10 events
    python benchmarks/serve.py --candidates 500

The issue's targets: the page of a 200-candidate run loads in under 1 s; an event reaches the page
within 2 s of the store write. The load average is printed: other work on the machine slows both.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw

from rewardsmith.archive.records import CandidateResult, ComponentTrend, EpisodeSummary, SeedResult, Snapshot
from rewardsmith.archive.store import REJECTED, SCORED, RunStore
from rewardsmith.people.web.server import PageServer
from rewardsmith.training.collect import merged_result, save_leg

TASK = Path(__file__).resolve().parent.parent / "tests" / "data" / "tiny_mountaincar.py"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COMPONENTS = ("progress", "energy", "action_cost", "flag")
REWARD = "def compute_reward(state, action, next_state):\n    # variant {i}\n    return {i}.0, {{'progress': 1.0}}\n"


def gif(seed: int) -> bytes:
    frames = []
    for i in range(100):
        image = Image.new("RGB", (160, 107), "white")
        ImageDraw.Draw(image).rectangle([(i + seed) % 150, 60, (i + seed) % 150 + 10, 70], fill="black")
        frames.append(image)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def build_run(root: Path, candidates: int) -> RunStore:
    store = RunStore.create(root, {"task": "tiny-mountaincar", "designer": "offline", "timesteps": 20_000}, TASK)
    store.set_meta("random_fitness", 0.1)
    per_generation = max(1, candidates // 20)
    parent = None
    (root / "videos").mkdir()
    for i in range(candidates):
        generation = i // per_generation
        c = store.add_candidate(generation, REWARD.format(i=i), "baseline" if i == 0 else "offline", parent=parent)
        if i % 7 == 3:
            store.update(c.id, status=REJECTED, reason=f"REJECTED\nline 3: reward {i} is constant on every transition")
            continue
        fitness = 0.2 + 0.8 * (i / candidates) + 0.05 * ((i * 37) % 11) / 11
        snapshots = [Snapshot(step=1000 * (k + 1), reward_per_step=0.1 * k, native_per_step=-1.0,
                              components={name: 0.01 * k * (j + 1) for j, name in enumerate(COMPONENTS)},
                              episodes=k, elapsed=float(k), fitness=fitness * k / 20) for k in range(20)]
        run = SeedResult(seed=0, fitness=fitness, episode_fitness=[fitness], timesteps=20_000, steps_per_second=4000.0,
                         train_seconds=5.0, snapshots=snapshots,
                         episodes=[EpisodeSummary(fitness=fitness, length=200, native_return=-200.0, terminated=False,
                                                  truncated=True)])
        components = {name: ComponentTrend([s.components[name] for s in snapshots], snapshots[-1].components[name])
                      for name in COMPONENTS}
        save_leg(store, c.id, 0, 0, run.timesteps, run)  # as training stores it: the seed's result is its leg's
        store.update(c.id, status=SCORED, fitness=fitness, fitness_std=0.0, seeds=[0], timesteps=20_000,
                     result=CandidateResult(runs=[merged_result(store, c.id, 0, 0)], components=components,
                                            budget_fraction=1.0),
                     reflection=f"reflection of candidate {i}: " + "the flag term never fires. " * 20)
        parent = c.id
        if i % per_generation == per_generation - 1:
            (root / "videos" / f"gen{generation}-{c.id}.gif").write_bytes(gif(i))
    store.set_meta("status", "finished")
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--quiet-seconds", type=int, default=10)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        started = time.monotonic()
        store = build_run(root, args.candidates)
        print(f"built a run of {args.candidates} candidates in {time.monotonic() - started:.1f} s "
              f"(run.db {os.path.getsize(root / 'run.db') / 1e6:.1f} MB)")
        server = PageServer(root).start()
        try:
            state_times = []
            for k in range(args.loads):
                store.add_feedback(f"before state {k}")  # so that the server builds the state anew
                t0 = time.perf_counter()
                body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/state?token={server.token}").read()
                state_times.append(time.perf_counter() - t0)
            print(f"/api/state after a store write: {len(body) / 1e3:.0f} kB, median {1000 * statistics.median(state_times):.0f} ms "
                  f"(of {args.loads})")
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                context = browser.new_context()
                page = context.new_page()
                page.goto(server.url)  # sets the cookie
                page.wait_for_selector("#candidates")
                rows = f"#candidates tbody tr:nth-child({args.candidates})"
                for cold in (True, False):
                    loads = []
                    for k in range(args.loads):
                        if cold:  # the store changed since the server last built the state: it builds it anew
                            store.add_feedback(f"feedback {k}")
                        t0 = time.perf_counter()
                        page.goto(f"http://127.0.0.1:{server.port}/", wait_until="commit")
                        page.wait_for_selector(rows)
                        loads.append(time.perf_counter() - t0)
                    print(f"page load to all {args.candidates} rows shown, "
                          f"{'after a store write' if cold else 'store unchanged (state cached)'}: "
                          f"median {1000 * statistics.median(loads):.0f} ms, max {1000 * max(loads):.0f} ms "
                          f"(of {args.loads}; target < 1000 ms)")
                latencies = []
                for i in range(args.events):
                    time.sleep(0.3)  # writes spread out, as a run's are
                    t0 = time.perf_counter()
                    c = store.add_candidate(99, REWARD.format(i=10_000 + i), "offline")
                    page.wait_for_selector(f"#candidates tr[data-id='{c.id}']", timeout=10_000)
                    latencies.append(time.perf_counter() - t0)
                print(f"store write to row on the page: median {1000 * statistics.median(latencies):.0f} ms, "
                      f"max {1000 * max(latencies):.0f} ms (of {args.events}; target < 2000 ms)")
                # what an open page costs the process that serves it (in `evolve --serve`, the loop's own
                # process; training itself runs in other processes): CPU time over a quiet stretch, then
                # over one with a store write a second
                for writes in (False, True):
                    cpu, wall = time.process_time(), time.monotonic()
                    for k in range(args.quiet_seconds):
                        if writes:
                            store.add_feedback(f"write {k}")
                        time.sleep(1.0)
                    share = (time.process_time() - cpu) / (time.monotonic() - wall)
                    print(f"serving one open page, {'a store write each second' if writes else 'store unchanged'}: "
                          f"{100 * share:.1f} % of one core (CPU time of this process over {args.quiet_seconds} s, "
                          f"the writes included)")
                browser.close()
        finally:
            server.close()
            store.close()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
