"""The proxy person never answers a pair it has already answered (people/proxy.py): where only two candidates
have videos, the page's pair is the same pair every time, and it used to be answered again and again; now the
proxy moves on to a pair it has not answered, and says when there is none. The page's pair choice
(web/data.pair) reaches candidates whose video can be rendered on demand (a policy checkpoint in the run)."""

import json

from rewardsmith.archive.store import RunStore
from rewardsmith.people.proxy import EVENT, ProxyPerson, ProxySpec
from rewardsmith.people.web.data import pair
from conftest import TINY_TASK
from test_proxy_person import scored


def make_run(root, n: int, videos: int):
    """``n`` scored candidates with kept episodes (c0 best by fitness); the first ``videos`` have a video."""
    store = RunStore.create(root, {"task": "tiny-mountaincar", "designer": "offline"}, TINY_TASK)
    ids = [scored(store, i, float(n - i), [0.1 * (i + 1), -0.1 * (i + 1)]) for i in range(n)]
    (root / "videos").mkdir()
    for cid in ids[:videos]:
        (root / "videos" / f"gen0-{cid}.gif").write_bytes(b"GIF89a")
    return store, ids


def answered_pairs(store):
    return [frozenset((p["preferred"], p["other"])) for p in store.preferences()]


def test_two_candidates_with_videos_are_answered_once_then_it_says_nothing_new(tmp_path):
    store, ids = make_run(tmp_path / "run", 2, 2)
    proxy = ProxyPerson(ProxySpec("position", pairs=3))
    assert len(proxy.answer(store, 0)) == 1 and proxy.nothing_new  # not the same pair three times
    assert answered_pairs(store) == [frozenset(ids)]
    assert proxy.answer(store, 1) == [] and proxy.nothing_new  # the next generation: still nothing new
    assert answered_pairs(store) == [frozenset(ids)]
    assert [e.get("nothing_new") for e in store.events(EVENT)] == [True, True]


def test_with_two_videos_among_four_it_moves_on_to_pairs_it_has_not_answered(tmp_path):
    store, ids = make_run(tmp_path / "run", 4, 2)
    proxy = ProxyPerson(ProxySpec("position", pairs=2))
    first = proxy.answer(store, 0)
    asked = answered_pairs(store)
    assert len(first) == 2 and len(set(asked)) == 2, asked
    assert asked[0] == frozenset(ids[:2])  # the page's pair (the two with videos) first...
    assert not proxy.nothing_new and "nothing_new" not in store.events(EVENT)[-1]
    proxy.answer(store, 1)  # ...then others, never one again: 3 neighbouring pairs of 4 in all
    proxy.answer(store, 2)
    asked = answered_pairs(store)
    assert len(asked) == len(set(asked)) >= 3 and proxy.nothing_new


def test_a_person_answering_on_the_page_is_not_what_the_proxy_skips(tmp_path):
    """The skip is the proxy's own answers: a pair a person answered is still the proxy's to judge."""
    store, ids = make_run(tmp_path / "run", 2, 2)
    store.add_preference(ids[0], ids[1], source="page")
    assert len(ProxyPerson(ProxySpec("position")).answer(store, 0)) == 1


def test_the_pair_reaches_candidates_with_a_checkpoint_to_render_from(tmp_path):
    """Two with videos, one with only a policy checkpoint (renderable on demand), one with a checkpoint that is
    a link out of the run (not counted): the page's pairs come from the first three."""
    store, ids = make_run(tmp_path / "run", 4, 2)
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(exist_ok=True)
    store.checkpoint_path(ids[2], 0).write_text(json.dumps({"policy": {}}))
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    store.checkpoint_path(ids[3], 0).symlink_to(outside)
    seen = set()
    for _ in range(4):
        shown = pair(store)
        seen |= {shown["a"], shown["b"]}
        store.add_preference(shown["a"], shown["b"], source="test")
    assert seen == set(ids[:3])
    shown = pair(store, skip={frozenset(ids[:2]), frozenset(ids[1:3]), frozenset((ids[0], ids[2]))})
    assert shown is not None and ids[3] in (shown["a"], shown["b"])  # all skipped: the wider pool
