"""MP4 against GIF for the same rendered episode, side by side in one run: bytes on disk, encoding time in
this process, and bytes the compare view fetched before MP4 (the GIF's PNG sprite sheet).

    python benchmarks/video_formats.py            # mountain car (pygame) and hopper (MuJoCo via OSMesa)

Each task's episode is rendered once by the real sandboxed render job (160 px, at most 200 frames) from a
policy written as plain numbers (no training: mountain car pushes with its velocity, hopper acts gently
from a fixed random MLP, so it stays up a while); both encoders get the same frames."""

import tempfile
import time
from pathlib import Path

import numpy as np

from rewardsmith.output.video import encode_gif, encode_mp4, render_episode
from rewardsmith.people.web.data import sprite
from rewardsmith.sandbox.policy import FORMAT, encode_array
from rewardsmith.task import load_task


def mlp(obs: int, act: int, seed: int, weight=None, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    hidden = weight if weight is not None else rng.normal(size=(8, obs))
    return {"format": FORMAT, "obs_shape": [obs], "activation": "tanh", "normalize": None,
            "layers": [{"weight": encode_array(hidden), "bias": encode_array(np.zeros(len(hidden)))}],
            "head": {"weight": encode_array(scale * rng.normal(size=(act, len(hidden)))), "bias": encode_array(np.zeros(act))},
            "action": {"type": "box", "low": encode_array(-np.ones(act)), "high": encode_array(np.ones(act)), "squash": False}}


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, 1000 * (time.perf_counter() - start)


def main() -> None:
    cases = [("mountaincar-reach", mlp(2, 1, 0, weight=np.array([[0.0, 200.0]]))), ("hopper-forward", mlp(11, 3, 1, scale=0.02))]
    print(f"{'task':18} {'frames':>6} {'px':>7} | {'GIF bytes':>10} {'ms':>6} | {'MP4 bytes':>10} {'ms':>6} | "
          f"{'MP4/GIF':>7} | {'sprite PNG':>10} {'MP4/sprite':>10}")
    for name, policy in cases:
        task = load_task(name)
        video = render_episode(task, {"policy": policy}, seed=0, gif=False, on_note=print)
        if video is None:
            print(f"{name:18} cannot render here")
            continue
        gif, gif_ms = timed(encode_gif, video["pixels"], video["frame_ms"])
        mp4, mp4_ms = timed(encode_mp4, video["pixels"], video["fps"])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "v.gif"
            path.write_bytes(gif)
            sheet, _ = sprite(path)
        print(f"{name:18} {video['frames']:>6} {video['width']}x{video['height']:<3} | {len(gif):>10} {gif_ms:>6.0f} | "
              f"{len(mp4):>10} {mp4_ms:>6.0f} | {len(mp4) / len(gif):>7.2f} | {len(sheet):>10} {len(mp4) / len(sheet):>10.2f}")


if __name__ == "__main__":
    main()
