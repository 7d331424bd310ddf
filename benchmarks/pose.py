"""Stage I benchmark: every built-in object x several starts and targets, on one CPU core.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pose.py [--frames 49] [--objects mug ball]

Reports per case and overall: success rate, median max penetration (mm), median slip (mm) and
median seconds per trajectory (grasp synthesis + planning + MuJoCo + quality measures). Convex
decompositions are computed (or read from the cache) before timing; their cold cost is listed
separately (a fresh cache in a temporary $PAM_HOME). Targets (issue 3): success >= 90 %, median max penetration <= 2 mm, median time <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import torch

from pam.hand import OpenHand
from pam.objects import BUILTIN_OBJECTS, load_object
from pam.pose.collision import convex_parts
from pam.pose.generate import PoseError, generate_trajectory
from pam.pose.keyframes import HandKeyframe, default_keyframes, hand_preset
from pam.pose.quality import evaluate
from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np


def scenarios(name: str):
    """(label, h0, o0, hT) cases: three object placements and starts, three kinds of target."""
    h0, _, lift = default_keyframes(name)
    cases = []
    # 1. default scene: lift 15 cm
    cases.append(("lift", h0, np.eye(4), lift))
    # 2. object turned 60 degrees and moved; hand starts to its right; lift and move aside
    o0 = np.eye(4)
    o0[:3, :3] = axis_angle_to_matrix_np(np.array([0.0, 0.0, np.pi / 3]))
    o0[:3, 3] = [0.05, 0.03, 0.0]
    side_start = HandKeyframe(
        hand_pose=hand_preset("relaxed"),
        global_orient=matrix_to_axis_angle_np(axis_angle_to_matrix_np(np.array([0.0, 0.0, 0.6])) @ axis_angle_to_matrix_np(h0.global_orient)),
        transl=np.array([0.2, -0.25, 0.15]),
    )
    aside = HandKeyframe(hand_pose=hand_preset("power_grasp"), offset_from_grasp=np.array([-0.12, -0.08, 0.2]))
    cases.append(("turned+aside", side_start, o0, aside))
    # 3. object turned the other way; absolute target wrist pose: the start orientation, up and forward
    o0 = np.eye(4)
    o0[:3, :3] = axis_angle_to_matrix_np(np.array([0.0, 0.0, -2.0]))
    absolute = HandKeyframe(hand_pose=hand_preset("power_grasp"), global_orient=h0.global_orient.copy(),
                            transl=h0.transl + np.array([0.05, 0.2, 0.2]))
    cases.append(("absolute", h0, o0, absolute))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--objects", nargs="*", default=list(BUILTIN_OBJECTS))
    parser.add_argument("--seeds", type=int, default=2, help="seeds per case (diverse grasps)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="pam_bench_") as home:
        os.environ["PAM_HOME"] = home  # cold decomposition cache
        run(args)


def run(args: argparse.Namespace) -> None:
    hand = OpenHand("right")
    print("| object | convex parts | decomposition s (cold) |")
    print("|---|---|---|")
    for name in args.objects:
        start = time.perf_counter()
        parts = convex_parts(load_object(name))
        print(f"| {name} | {len(parts)} | {time.perf_counter() - start:.2f} |")
    rows = []
    print("\n| object | case | seed | held | max pen mm | slip mm | attempts | s |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [(name, case, seed) for name in args.objects for case in scenarios(name) for seed in range(args.seeds)]
    for name, (label, h0, o0, hT), seed in cases:
        start = time.perf_counter()
        try:
            seq = generate_trajectory(h0, name, o0, hT, frames=args.frames, seed=seed, hand_model=hand)
            q = evaluate(seq, hand_model=hand)
            attempt = seq.meta["pose"]["attempt"] + 1
        except PoseError as err:
            q, attempt = {"success": False, "max_penetration_mm": np.nan, "slip_mm": np.nan}, str(err)[:60]
        seconds = time.perf_counter() - start
        rows.append((q["success"], q["max_penetration_mm"], q["slip_mm"], seconds))
        print(f"| {name} | {label} | {seed} | {q['success']} | {q['max_penetration_mm']:.2f} | {q['slip_mm']:.1f} | "
              f"{attempt} | {seconds:.2f} |", flush=True)
    ok = np.array([r[0] for r in rows])
    pen = np.array([r[1] for r in rows])[ok]
    slip = np.array([r[2] for r in rows])[ok]
    secs = np.array([r[3] for r in rows])
    print(f"\n{len(rows)} cases: success {100 * ok.mean():.0f} %, median max penetration {np.median(pen):.2f} mm "
          f"(of successes), median slip {np.median(slip):.1f} mm, median time {np.median(secs):.2f} s "
          f"(max {secs.max():.2f} s)")


if __name__ == "__main__":
    main()
