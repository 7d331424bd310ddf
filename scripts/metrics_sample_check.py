"""Sanity check of the metrics on real footage: the DexYCB sample video against altered copies of itself.

Copies: re-encoded (H.264, crf 28), shifted (4 pixels right, edges replicated), frozen (the
first frame repeated) and time-reversed. Writes them next to each other under OUT and runs ``pam eval`` for each
(LPIPS and FVD run only if their weight files are present; otherwise the message says what to get).

    PYTHONPATH=src python scripts/metrics_sample_check.py [--shared /work/shared] [--out /tmp/pam-metrics-sample]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np

from pam.metrics.cli import EvalOptions, run_eval
from pam.render.video import read_video, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("PAM_SHARED_DIR", Path(__file__).parents[2] / "shared")))
    parser.add_argument("--out", type=Path, default=Path("/tmp/pam-metrics-sample"))
    parser.add_argument("--metrics", default="psnr,ssim,lpips,mf,fvd")
    parser.add_argument("--mf-mode", default="both", help="both, generated_to_reference or published")
    args = parser.parse_args()
    sample = args.shared / "data" / "official-samples" / "dexycb"
    video = read_video(sample / "val_video.mp4")
    shifted = np.concatenate([np.repeat(video[:, :, :1], 4, axis=2), video[:, :, :-4]], axis=2)
    variants = {"reencoded": video, "shifted": shifted, "frozen": np.repeat(video[:1], len(video), axis=0),
                "reversed": video[::-1]}
    ref, cond = args.out / "reference", args.out / "conditions"
    for d in (ref, cond):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample / "val_video.mp4", ref / "val_video.mp4")
    for kind in ("seg_mask", "hand_keypoints", "depth"):
        shutil.copy(sample / f"val_{kind}.mp4", cond / f"val_video_{kind}.mp4")
    for name, frames in variants.items():
        gen = args.out / name
        gen.mkdir(exist_ok=True)
        write_video(gen / "val_video.mp4", frames, crf=28)
        print(f"== {name} vs original ==")
        run_eval(EvalOptions(gen, ref, tuple(args.metrics.split(",")), cond, json_path=gen / "r.json",
                             report=args.out / f"report_{name}.html", mf_mode=args.mf_mode))


if __name__ == "__main__":
    main()
