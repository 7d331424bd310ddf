"""Forward-pass time of the hand models for a 49-frame clip (CPU, and CUDA when available).

    PYTHONPATH=src python benchmarks/hand_models.py [--frames 49] [--repeats 50]

ManoHand is timed too when a MANO file is found (see pam.hand.mano).
"""

from __future__ import annotations

import argparse
import time

import torch

from pam.hand import ManoHand, OpenHand
from pam.hand.anatomy import curl_pose


def time_forward(hand, frames: int, repeats: int, device: str) -> float:
    """Mean milliseconds of one batched forward pass over ``frames`` frames."""
    hand = hand.to(device)
    orient = torch.randn(frames, 3, device=device) * 0.5
    pose = torch.as_tensor(curl_pose(torch.rand(frames, 5).numpy()), dtype=torch.float32, device=device)
    betas = torch.zeros(10, device=device)
    with torch.no_grad():
        for _ in range(3):
            hand(orient, pose, betas)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            hand(orient, pose, betas)
        if device == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    models = {"OpenHand": OpenHand("right")}
    try:
        models["ManoHand"] = ManoHand(side="right")
    except FileNotFoundError:
        print("ManoHand: no MANO file found, skipped")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for name, hand in models.items():
        for device in devices:
            ms = time_forward(hand, args.frames, args.repeats, device)
            print(f"{name} {device}: {ms:.2f} ms per {args.frames}-frame forward ({args.frames / ms * 1000:.0f} frames/s)")


if __name__ == "__main__":
    main()
