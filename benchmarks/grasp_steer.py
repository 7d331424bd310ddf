"""Grasp steering benchmark: requested approaches, hT's fingers, regions, families, seconds.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/grasp_steer.py [--objects mug drill] [--seeds 2]

Synthesis only (``pam.pose.grasp.synthesize_grasps``, no simulation): for each built-in object and
approach request (top, side, front and two oblique vectors), whether a grasp is found and the
angle between the request and the palm's facing direction of each returned grasp; the mean and
max finger joint error to hT (power_grasp) of the best power grasp; for each named part, the
share of the best grasp's touching skin (within 4 mm of the object) whose nearest surface point
lies within 5 mm of the part (exact distance to the part's triangles); the family of the best
grasp per seed without a request; seconds per synthesis (median, p95).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import trimesh

from pam.hand import OpenHand
from pam.objects import BUILTIN_OBJECTS, builtin_mesh
from pam.pose.grasp import FAMILIES, GraspRequest, finger_error, synthesize_grasps
from pam.pose.hand_geometry import PosedHand
from pam.pose.keyframes import default_keyframes, hand_preset
from pam.pose.sdf import ObjectSDF
from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

APPROACH_REQUESTS = ["top", "side", "front", (1.0, -1.0, 1.0), (-1.0, 0.0, 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", nargs="*", default=list(BUILTIN_OBJECTS))
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    hand = PosedHand(OpenHand("right"))
    axes = hand.canonical_axes(hand_preset("power_grasp"))
    seconds, found, angles, errors, families, regions = [], [], [], [], Counter(), []

    def run(mesh, request, seed, h0):
        start = time.perf_counter()
        grasps = synthesize_grasps(hand, mesh, 0.0, hand_preset("preshape"), hand_preset("power_grasp"),
                                   np.random.default_rng(seed), preferred=(axis_angle_to_matrix_np(h0.global_orient),),
                                   request=request)
        seconds.append(time.perf_counter() - start)
        return grasps

    for name in args.objects:
        mesh = builtin_mesh(name)
        h0 = default_keyframes(name)[0]
        for approach in APPROACH_REQUESTS:
            request = GraspRequest(approach=approach)
            grasps = run(mesh, request, 0, h0)
            found.append(bool(grasps))
            wanted = request.direction("right")
            angles += [float(np.degrees(np.arccos(np.clip(-(g.rotation @ axes[2]) @ wanted, -1, 1)))) for g in grasps]
        for seed in range(args.seeds):
            grasps = run(mesh, GraspRequest(family="power"), seed, h0)
            if grasps:
                err = finger_error(grasps[0].hand_pose, hand_preset("power_grasp"))
                errors.append((err.mean(), err.max()))
            grasps = run(mesh, None, seed, h0)
            families[grasps[0].family if grasps else "none"] += 1
        for part in BUILTIN_OBJECTS[name].parts:
            grasps = run(mesh, GraspRequest(region=part), 0, h0)
            on = None
            if grasps:
                g = grasps[0]
                verts, _ = hand(matrix_to_axis_angle_np(g.rotation)[None], g.hand_pose[None], g.transl[None])
                dist, closest = ObjectSDF(mesh).closest(verts[0])
                inside = mesh.metadata["parts"][part][mesh.faces].all(axis=1)
                part_mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[inside], process=False)
                touching = closest[np.abs(dist) < 0.004]
                near = trimesh.proximity.closest_point(part_mesh, touching)[1] < 0.005
                on = float(near.mean())
            regions.append((name, part, grasps[0].family if grasps else "-", on))
        print(f"{name}: done", flush=True)

    angles = np.array(angles)
    print(f"approach requests with a grasp: {sum(found)}/{len(found)}; grasps within 15 deg: "
          f"{(angles <= 15).mean():.1%} of {len(angles)} (max {angles.max():.1f} deg)")
    errors = np.array(errors)
    print(f"finger error to hT (best power grasp): mean {errors[:, 0].mean():.2f} rad, max joint {errors[:, 1].max():.2f} rad")
    print("best-grasp family per seed (no request): " + ", ".join(f"{f} {families[f]}" for f in (*FAMILIES, "none")))
    for name, part, family, on in regions:
        print(f"region {name}/{part}: {family}, touching skin near the part: {'-' if on is None else f'{on:.0%}'}")
    s = np.array(seconds)
    print(f"seconds per synthesis: median {np.median(s):.2f}, p95 {np.percentile(s, 95):.2f} ({len(s)} runs)")


if __name__ == "__main__":
    main()
