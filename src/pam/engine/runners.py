"""Runners: the same clip stages in-process (``LocalRunner``) or on a Ray cluster (``RayRunner``).

A runner takes clip jobs and yields one ``ClipResult`` per job as each finishes (streamed, so the driver
appends it to the manifest at once). Neither ever writes the manifest, and a failing clip becomes a
``failed`` result, never an exception. ``make_runner("local" | "ray", ...)`` picks one by name.

On Ray, the CPU stages (Stage I and the conditions) and the final clip-folder write run as tasks; Stage II
and Stage III run on actors that each load their pipeline once and serve every clip (one actor per GPU;
the two stages scale separately). Jobs move on to an actor as soon as their conditions are ready, and at
most ``max_in_flight`` jobs are in the CPU stages at once, so GPUs never wait while CPUs can keep up. Ray
retries a task or actor call whose worker died (``max_retries``); an error raised by a clip is final for
this run and recorded in the manifest (the next run retries it up to the driver's attempt bound).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Protocol

from pam.engine.clip import StageModels, failed, finish_clip, generate_clip, run_stage
from pam.engine.job import STAGES, ClipJob
from pam.engine.manifest import ClipResult

CPU_STAGES = ("pose", "conditions")
GPU_STAGES = ("appearance", "motion")


class Runner(Protocol):
    def run(self, jobs: Iterable[ClipJob], attempts: Mapping[str, int]) -> Iterator[ClipResult]:
        """Generate each job (``attempts``: clip id -> this attempt's number); yield results as they finish."""


class LocalRunner:
    """Every stage in this process, clip after clip; the Stage II / III pipelines load once and serve all clips."""

    def __init__(self, out_root: str | Path, until: str = "motion", device: str | None = None):
        self.out_root, self.until = Path(out_root), until
        self.models = StageModels(device)

    def run(self, jobs: Iterable[ClipJob], attempts: Mapping[str, int]) -> Iterator[ClipResult]:
        for job in jobs:
            yield generate_clip(job, self.models, self.out_root, self.until, attempts.get(job.clip_id, 1))


def _stages(job: ClipJob, out_root: Path, stages: tuple[str, ...], attempts: int,
            models: StageModels | None = None) -> ClipResult | None:
    """Run ``stages`` of ``job``; None when they succeed, else the failed result."""
    try:
        for stage in stages:
            run_stage(stage, job, out_root, models)
    except Exception as err:
        return failed(job, err, out_root, attempts)
    return None


def _finish(job: ClipJob, out_root: Path, until: str, attempts: int) -> ClipResult:
    try:
        return finish_clip(job, out_root, until, attempts)
    except Exception as err:
        return failed(job, err, out_root, attempts)


class StageWorker:
    """A Ray actor body: one Stage II or Stage III pipeline, loaded on the first clip, kept for the rest."""

    def __init__(self, out_root: str, stage: str, device: str | None = None):
        self.out_root, self.stage = Path(out_root), stage
        self.models = StageModels(device)

    def run(self, job: ClipJob, attempts: int) -> ClipResult | None:
        return _stages(job, self.out_root, (self.stage,), attempts, self.models)


class RayRunner:
    """CPU stages as Ray tasks, Stage II / III on GPU actors, results streamed back in finishing order.

    Args:
        address: ``"auto"`` starts a local Ray instance (or joins ``$RAY_ADDRESS``); else a cluster
            address such as ``ray://head:10001`` or ``head:6379``. ``OUT`` must be on a file system that
            every node sees at the same path.
        num_cpus: CPUs of a locally started instance (None: all).
        appearance_workers / motion_workers: actors per stage (default: with G GPUs, a quarter of them for
            Stage II, the rest for Stage III, one GPU each; one GPU shared by both; without GPUs one each).
        max_in_flight: jobs in the CPU stages at once (default: twice the cluster's CPUs).
    """

    def __init__(self, out_root: str | Path, until: str = "motion", address: str = "auto",
                 num_cpus: int | None = None, appearance_workers: int | None = None,
                 motion_workers: int | None = None, max_in_flight: int | None = None, max_retries: int = 2):
        self.out_root, self.until = Path(out_root).resolve(), until
        self.address, self.num_cpus = address, num_cpus
        self.workers = {"appearance": appearance_workers, "motion": motion_workers}
        self.max_in_flight, self.max_retries = max_in_flight, max_retries

    def start(self):
        """Start or join Ray (once); returns the ``ray`` module."""
        try:
            import ray

            import pam
        except ImportError as err:
            raise ImportError("--ray needs Ray: pip install 'pam-engine[ray]'") from err
        if not ray.is_initialized():
            if self.address == "auto":  # local workers import pam from where this process did
                source = str(Path(pam.__file__).resolve().parents[1])
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": source, "OMP_NUM_THREADS": "1"}})
            else:
                ray.init(address=self.address, log_to_driver=False)
        return ray

    def _actors(self, ray, stage: str, gpus: float) -> list:
        wanted = self.workers[stage]
        if gpus >= 2:
            share = max(1, round(gpus / 4))
            count = wanted or (share if stage == "appearance" else max(1, int(gpus) - share))
            options = {"num_gpus": 1, "num_cpus": 1}
        elif gpus == 1:
            count, options = wanted or 1, {"num_gpus": 0.5, "num_cpus": 1}
        else:  # CPU only (smoke models): actors must not hold the CPUs the tasks need
            count, options = wanted or 1, {"num_cpus": 0}
        actor = ray.remote(max_restarts=self.max_retries, max_task_retries=self.max_retries, **options)(StageWorker)
        return [actor.remote(str(self.out_root), stage) for _ in range(count)]

    def run(self, jobs: Iterable[ClipJob], attempts: Mapping[str, int]) -> Iterator[ClipResult]:
        ray = self.start()
        out_root, until = self.out_root, self.until
        stages = STAGES[: STAGES.index(until) + 1]
        cpu_task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_stages)
        finish_task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_finish)
        gpus = ray.cluster_resources().get("GPU", 0)
        pools = {stage: itertools.cycle(self._actors(ray, stage, gpus)) for stage in GPU_STAGES if stage in stages}
        limit = self.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        queue = iter(jobs)
        pending: dict = {}  # ObjectRef -> (job, step)

        def submit(job: ClipJob, step: str) -> None:
            n = attempts.get(job.clip_id, 1)
            if step == "cpu":
                ref = cpu_task.remote(job, out_root, tuple(s for s in CPU_STAGES if s in stages), n)
            elif step == "finish":
                ref = finish_task.remote(job, out_root, until, n)
            else:
                ref = next(pools[step]).run.remote(job, n)
            pending[ref] = (job, step)

        def fill() -> None:
            while sum(step == "cpu" for _, step in pending.values()) < limit:
                job = next(queue, None)
                if job is None:
                    return
                submit(job, "cpu")

        fill()
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job, step = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as err:  # the worker died more often than max_retries
                result = failed(job, err, out_root, attempts.get(job.clip_id, 1))
            if step == "finish" or result is not None:
                yield result
            else:
                later = [s for s in GPU_STAGES if s in stages]
                following = later[later.index(step) + 1:] if step in later else later
                submit(job, following[0] if following else "finish")
            fill()


def make_runner(kind: str, out_root: str | Path, until: str = "motion", **options) -> Runner:
    """``"local"`` or ``"ray"`` (``options`` go to the runner: ``address``, ``num_cpus``, worker counts)."""
    if kind == "local":
        return LocalRunner(out_root, until, device=options.get("device"))
    if kind == "ray":
        return RayRunner(out_root, until, **{k: v for k, v in options.items() if k != "device"})
    raise ValueError(f"runner: expected 'local' or 'ray', got {kind!r}")
