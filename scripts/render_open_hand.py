"""Render the OpenHand at rest and in a grasp-like pose to a PNG (matplotlib), for eyeballing the model.

    PYTHONPATH=src python scripts/render_open_hand.py [OUT.png] [--side right|left] [--closure 0.6]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from pam.fileio import atomic_path
from pam.hand import BONES, OpenHand
from pam.hand.anatomy import curl_pose

#: (elevation, azimuth) with y up: the rest palm faces -y, fingers point -x (right) / +x (left), thumb +z.
VIEWS = {"back (dorsal)": (90, -90), "palm": (-90, -90), "thumb side": (0, -90), "oblique": (35, -60)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="open_hand.png")
    parser.add_argument("--side", default="right", choices=["right", "left"])
    parser.add_argument("--closure", type=float, default=0.6)
    args = parser.parse_args()

    hand = OpenHand(args.side)
    poses = {"rest": np.zeros(45), f"curl {args.closure:g}": curl_pose(args.closure, args.side)}
    fig = plt.figure(figsize=(4 * len(VIEWS), 4 * len(poses)))
    for row, (title, pose) in enumerate(poses.items()):
        out = hand(torch.zeros(1, 3), torch.as_tensor(pose, dtype=torch.float32)[None])
        verts, joints = out.vertices[0].numpy(), out.joints[0].numpy()
        centre = verts.mean(axis=0)
        half = np.abs(verts - centre).max()
        for col, (view, (elev, azim)) in enumerate(VIEWS.items()):
            ax = fig.add_subplot(len(poses), len(VIEWS), row * len(VIEWS) + col + 1, projection="3d")
            ax.plot_trisurf(*verts.T, triangles=hand.faces, color="peachpuff", edgecolor="k", linewidth=0.05, alpha=0.6)
            for a, b in BONES:
                ax.plot(*joints[[a, b]].T, color="crimson", linewidth=1.5)
            ax.scatter(*joints.T, color="navy", s=6)
            ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
                   zlim=(centre[2] - half, centre[2] + half), xlabel="x", ylabel="y", zlabel="z")
            ax.set_box_aspect((1, 1, 1))
            ax.view_init(elev=elev, azim=azim, vertical_axis="y")
            ax.set_title(f"{args.side} {title}: {view}", fontsize=9)
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
