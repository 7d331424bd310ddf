"""`pam dataset build` speed: seconds per clip, end to end, on a miniature DexYCB in the real layout.

Writes a miniature DexYCB (tests/dataset_fixtures.py: 49 frames of 640 x 480 jpgs and labels per
camera, synthetic MANO files, box meshes for the YCB models) into a temporary folder and builds
``--clips`` clips of the s0-train split at the clip size (49 x 480 x 720 by default): read, resize,
render the four conditions, encode five videos, write the clip folder.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/dataset.py [--clips 2] [--backend gl|ray]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dataset_fixtures import SERIALS, make_dexycb, write_mano_files  # noqa: E402

from pam.data.build import BuildOptions, build_dataset  # noqa: E402


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the ffmpeg encoders)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2,
                        help=f"clips to build (at most {len(SERIALS)}: one sequence's cameras)")
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--backend", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        write_mano_files(base / "mano")
        make_dexycb(base / "dex-ycb", base / "mano", num_frames=args.frames, sequences=1, subjects=(0,))
        print(f"miniature DexYCB written in {time.perf_counter() - started:.1f} s")
        options = BuildOptions(source="dexycb", root=base / "dex-ycb", split="s0-train", out=base / "clips",
                               limit=min(args.clips, len(SERIALS)), num_frames=args.frames, height=args.height,
                               width=args.width, mano_dir=base / "mano", backend=args.backend)
        cpu = _cpu_seconds()
        report = build_dataset(options)
        cpu = _cpu_seconds() - cpu
        if report.failed:
            raise SystemExit(f"failed: {report.failed}")
        sizes = [sum(p.stat().st_size for p in (options.out / c).iterdir()) / 2**20 for c in report.built]
        print(f"{len(report.built)} clips of {args.frames} x {args.height} x {args.width}: {report.seconds:.1f} s, "
              f"{report.seconds / len(report.built):.1f} s per clip ({cpu / len(report.built):.1f} CPU s with ffmpeg), "
              f"{sum(sizes) / len(sizes):.1f} MiB per clip folder")
        print("resume pass (all complete):", f"{build_dataset(options).seconds:.2f} s")


if __name__ == "__main__":
    main()
