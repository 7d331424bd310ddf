"""Benchmark: PSNR + SSIM + Motion Fidelity (Lucas-Kanade) over many clip pairs, CPU.

Default: 100 pairs of 49-frame 480 x 720 clips (the paper's clip size); target <= 60 s in all.
Clips are synthetic (a textured background with a moving textured patch; the "generated" one
with noise and a slightly different path), made in memory before each pair and not timed;
video decoding is not timed either (it is measured once, separately, for reference).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/metrics.py [--pairs 100 --frames 49 --height 480 --width 720]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2
import numpy as np

from pam.metrics.image import psnr, ssim
from pam.metrics.motion_fidelity import motion_fidelity
from pam.render.video import read_video, write_video


def texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def clip_pair(frames: int, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    background, patch = texture(h, w, rng), texture(h // 4, w // 4, rng)
    velocity = rng.uniform(-3, 3, 2)
    ref, gen = np.empty((2, frames, h, w, 3), np.uint8)
    for t in range(frames):
        for out, v in ((ref, velocity), (gen, velocity + rng.normal(0, 0.3, 2))):
            out[t] = background
            x = int(np.clip(w // 2 + v[0] * t, 0, w - patch.shape[1]))
            y = int(np.clip(h // 2 + v[1] * t, 0, h - patch.shape[0]))
            out[t, y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    noise = rng.integers(0, 9, (7, h, w, 3), dtype=np.uint8)  # a few noise frames, cycled (cheap to make)
    for t in range(frames):
        gen[t] = cv2.subtract(cv2.add(gen[t], noise[t % 7]), noise[(t + 3) % 7])
    return gen, ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    spent = {"psnr": 0.0, "ssim": 0.0, "mf": 0.0}
    values = {k: [] for k in spent}
    fns = {"psnr": lambda g, r: psnr(g, r).mean(), "ssim": lambda g, r: ssim(g, r).mean(), "mf": motion_fidelity}
    for i in range(args.pairs):
        gen, ref = clip_pair(args.frames, args.height, args.width, seed=i)
        for name, fn in fns.items():
            t0 = time.perf_counter()
            values[name].append(fn(gen, ref))
            spent[name] += time.perf_counter() - t0
    total = sum(spent.values())
    print(f"{args.pairs} pairs of {args.frames} x {args.height} x {args.width} clips, "
          f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (this run included)")
    for name in spent:
        print(f"  {name:5s} {spent[name]:7.2f} s   mean value {np.mean(values[name]):.4f}")
    default = (args.pairs, args.frames, args.height, args.width) == (100, 49, 480, 720)
    verdict = f" (target <= 60 s: {'met' if total <= 60 else 'NOT met'})" if default else ""
    print(f"  total {total:7.2f} s{verdict}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.mp4")
        write_video(path, gen)
        t0 = time.perf_counter()
        read_video(path)
        print(f"  (not counted) decoding one {args.frames}-frame clip: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
