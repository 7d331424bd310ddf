"""Engine benchmark: clips per hour and seconds per stage, and how the CPU stages scale on Ray.

    python benchmarks/generate.py                       # smoke models in-process + Ray CPU stages, 1 vs 2 workers
    python benchmarks/generate.py --clips 2 --ray-clips 4
    python benchmarks/generate.py --full --spec job.yaml  # CUDA + weights: seconds and peak memory per stage

1. In-process, smoke models (``--smoke``): ``--clips`` clips of distinct trajectories through Stage III;
   clips per hour and the mean seconds of each stage (the tiny models make Stage II / III cheap, so this
   measures the engine and the CPU stages, not the real models).
2. Ray, CPU stages only (``--until conditions``): ``--ray-clips`` jobs (mug and soup can, which Stage I holds
   at every seed) on a local Ray instance with 1 CPU and then with 2 CPUs, each in a fresh folder, timed
   after Ray has started and its workers have imported pam. Target: >= 1.6x.
3. ``--full`` (a CUDA GPU and the default weights): the first clip of ``--spec`` at its own size, stage by
   stage, with seconds and peak GPU memory (GiB) per stage against the paper's 301 s per clip (Table 5, H20).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pam.engine.batch import run_batch  # noqa: E402
from pam.engine.job import STAGES, JobSpec, ObjectSpec, VideoSpec, expand, load_job  # noqa: E402
from pam.engine.runners import LocalRunner, RayRunner  # noqa: E402
from pam.smoke import HEIGHT, WIDTH  # noqa: E402

PAPER_SECONDS_PER_CLIP = 301.0  # Table 5, one H20


def smoke_jobs(count: int, frames: int, steps: int, objects: tuple[str, str] = ("mug", "banana")):
    """``count`` jobs with distinct Stage I trajectories (the two objects alternating, with rising seeds)."""
    from pam.engine.job import AppearanceSpec, MotionSpec

    spec = JobSpec(objects=tuple(ObjectSpec(o) for o in objects), prompts=("a hand holds the {object}",),
                   seeds=(count + 1) // 2, video=VideoSpec(frames=frames),
                   appearance=AppearanceSpec(steps=steps), motion=MotionSpec(steps=steps))
    jobs = expand(spec, smoke=True, smoke_size=(HEIGHT, WIDTH))
    return [jobs[i // 2 + (i % 2) * (len(jobs) // 2)] for i in range(count)]


def in_process(count: int, frames: int, steps: int) -> None:
    jobs = smoke_jobs(count, frames, steps)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = run_batch(jobs, out, LocalRunner(out, "motion"), "motion")
        wall = time.perf_counter() - start
    done = [r for r in report.results if r.status == "done"]
    for row in report.failed:
        print(f"  failed {row.clip_id}: {row.error}")
    print(f"in-process, smoke models, {len(done)}/{count} clips of {frames} frames at {HEIGHT} x {WIDTH}, "
          f"{steps} steps: {wall:.1f} s, {3600 * len(done) / wall:.0f} clips/hour")
    for stage in STAGES:
        values = [r.seconds[stage] for r in done if stage in r.seconds]
        if values:
            print(f"  {stage:<11} {statistics.mean(values):7.2f} s per clip (mean of {len(values)})")


def _warm() -> None:
    """Import what the CPU stages use (a Ray worker's first task otherwise pays it inside the timing)."""
    import pam.conditions  # noqa: F401
    import pam.engine.clip  # noqa: F401
    import pam.pose.generate  # noqa: F401

    time.sleep(1.0)  # long enough that each worker process takes one


def ray_cpu_scaling(count: int, frames: int) -> None:
    import ray

    # the mug and the soup can: Stage I holds both at every seed, so every job does the same kind of
    # work (a job whose seeds all fail costs several times a good one and makes the split uneven)
    jobs = smoke_jobs(count, frames, steps=2, objects=("mug", "soup_can"))
    seconds = {}
    for cpus in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            runner = RayRunner(out, "conditions", num_cpus=cpus)
            runner.start()
            warm = ray.remote(num_cpus=1)(_warm)
            ray.get([warm.remote() for _ in range(cpus)])  # worker processes started and imports done
            start = time.perf_counter()
            report = run_batch(jobs, out, runner, "conditions")
            seconds[cpus] = time.perf_counter() - start
            ray.shutdown()
        busy = sum(sum(r.seconds.values()) for r in report.results if r.status == "done")
        print(f"Ray, CPU stages (pose + conditions), {cpus} worker(s): {report.done}/{count} clips in "
              f"{seconds[cpus]:.1f} s ({3600 * report.done / seconds[cpus]:.0f} clips/hour); stage seconds per "
              f"clip {busy / max(report.done, 1):.2f}, workers busy {busy / (cpus * seconds[cpus]):.0%} of the time")
        for row in report.failed:
            print(f"  failed {row.clip_id}: {row.error}")
    speedup = seconds[1] / seconds[2]
    print(f"  speedup 2 vs 1 workers: {speedup:.2f}x (target >= 1.6x){'' if speedup >= 1.6 else '  BELOW TARGET'}")


def full(spec_path: Path) -> None:
    import torch

    from pam.engine.clip import StageModels, finish_clip, run_stage

    if not torch.cuda.is_available():
        raise SystemExit("--full needs a CUDA GPU and the Stage II / III weights under $PAM_HOME")
    job = expand(load_job(spec_path))[0]
    models = StageModels()
    with tempfile.TemporaryDirectory() as out:
        total = 0.0
        for stage in STAGES:
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            run_stage(stage, job, out, models)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            total += seconds
            print(f"  {stage:<11} {seconds:8.1f} s   peak {torch.cuda.max_memory_allocated() / 2**30:6.1f} GiB "
                  "(first clip: includes loading the models)")
        finish_clip(job, out, "motion")
    print(f"one clip of {job.video.frames} x {job.video.height} x {job.video.width}: {total:.0f} s "
          f"(paper: {PAPER_SECONDS_PER_CLIP:.0f} s on an H20)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4, help="in-process smoke clips")
    parser.add_argument("--ray-clips", type=int, default=8, help="jobs for the Ray CPU-stage scaling run")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, default=4, help="Stage II / III steps of the smoke models")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--ray-only", action="store_true", help="only the Ray CPU-stage scaling run")
    parser.add_argument("--full", action="store_true", help="real models at full size (CUDA + weights)")
    parser.add_argument("--spec", type=Path, default=Path(__file__).resolve().parents[1] / "examples/jobs/minimal.yaml")
    args = parser.parse_args()
    if args.full:
        full(args.spec)
        return
    if not args.ray_only:
        in_process(args.clips, args.frames, args.steps)
    if not args.no_ray:
        ray_cpu_scaling(args.ray_clips, args.frames)


if __name__ == "__main__":
    main()
