"""Slow engine cases: the issue's minimal spec end to end, a real kill and resume, Ray on a local 2-CPU
instance, and the motion scorer against renders whose motion is known."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pam.cli import app
from pam.engine.job import expand, load_job
from pam.engine.manifest import read_rows
from pam.smoke import HEIGHT, WIDTH

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
# 25 frames (1.6 s at 15 fps): at 17 the reach, grasp and 15 cm lift take 1.1 s, and the lift's
# acceleration pulls the light banana out of the pinch at every seed
FAST = ["--set", "video.frames=25", "--set", "appearance.steps=2", "--set", "motion.steps=2"]
SPEC = """
objects: [mug]
seeds: 1
candidates: {candidates}
prompts: ["a hand holds the {{object}}"]
video: {{frames: 17}}
appearance: {{steps: 2}}
motion: {{steps: 2}}
"""


def test_minimal_spec_end_to_end_in_smoke_mode(tmp_path):
    out = tmp_path / "mugs"
    res = CliRunner().invoke(app, ["generate", "--spec", str(ROOT / "examples/jobs/minimal.yaml"), "--out", str(out),
                                   "--smoke", *FAST])
    assert res.exit_code == 0, res.output
    rows = read_rows(out)
    assert len(rows) == 4 and {r.status for r in rows.values()} == {"done"}
    assert {r.object for r in rows.values()} == {"mug", "banana"}
    resolved = load_job(out / "job.yaml")  # the saved spec, defaults filled in, makes the same clips
    assert {j.clip_id for j in expand(resolved, smoke=True, smoke_size=(HEIGHT, WIDTH))} == set(rows)
    res = CliRunner().invoke(app, ["filter", str(out), "--keep", "0.75"])
    assert res.exit_code == 0, res.output
    assert sorted(r.status for r in read_rows(out).values()) == ["done", "done", "done", "filtered"]
    for flag, count in (([], 3), (["--include-filtered"], 4)):
        dest = tmp_path / f"export{len(flag)}"
        res = CliRunner().invoke(app, ["export", str(out), "--format", "dexycb", "--out", str(dest), *flag])
        assert res.exit_code == 0, res.output
        assert len(list((dest / "pam").glob("*/meta.yml"))) == count


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    return [sys.executable, "-m", "pam.cli", *args], env


def test_killed_run_resumes_without_losing_or_duplicating_clips(tmp_path):
    (tmp_path / "job.yaml").write_text(SPEC.format(candidates=3))
    out = tmp_path / "out"
    command, env = _cli("generate", "--spec", str(tmp_path / "job.yaml"), "--out", str(out), "--smoke")
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while time.time() < deadline and not any(r.status == "done" for r in read_rows(out).values()):
        assert first.poll() is None, first.stderr.read().decode()
        time.sleep(0.5)
    # a second run on the same folder while the first one works is refused, and writes nothing
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 1 and "another pam run" in second.stderr
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {r.clip_id: r for r in read_rows(out).values() if r.status == "done"}
    assert 1 <= len(before) < 3
    kept = {c: (out / "clips" / c / "meta.json").read_bytes() for c in before}
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    jobs = expand(load_job(tmp_path / "job.yaml"), smoke=True, smoke_size=(HEIGHT, WIDTH))
    rows = read_rows(out)
    assert set(rows) == {j.clip_id for j in jobs} and {r.status for r in rows.values()} == {"done"}
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.endswith("}")]
    assert sorted(r["clip_id"] for r in lines if r["status"] == "done") == sorted(rows)  # one done row per clip
    assert sorted(p.name for p in (out / "clips").iterdir()) == sorted(rows)  # no temporaries, no extras
    for clip_id, meta in kept.items():  # clips finished before the kill were not made again
        assert (out / "clips" / clip_id / "meta.json").read_bytes() == meta
    assert not [p for p in (out / ".work").iterdir() if p.name != "poses"]


def test_ray_runner_on_a_local_two_cpu_instance(tmp_path):
    ray = pytest.importorskip("ray")
    from pam.engine.batch import run_batch
    from pam.engine.runners import LocalRunner, RayRunner

    (tmp_path / "nope.obj").write_text("not a mesh\n")  # exists, so the spec is valid; the clip fails on it
    (tmp_path / "job.yaml").write_text(SPEC.format(candidates=2).replace("objects: [mug]", "objects: [mug, {mesh: nope.obj}]"))
    jobs = expand(load_job(tmp_path / "job.yaml"), smoke=True, smoke_size=(HEIGHT, WIDTH))
    out = tmp_path / "out"
    try:
        report = run_batch(jobs, out, RayRunner(out, "motion", num_cpus=2), "motion")
    finally:
        ray.shutdown()
    assert report.done == 2 and len(report.failed) == 2, [r.error for r in report.failed]
    assert all("nope.obj" in r.error for r in report.failed)
    rows = read_rows(out)
    for job in jobs[:2]:
        meta = json.loads((out / "clips" / job.clip_id / "meta.json").read_text())
        assert rows[job.clip_id].stage == "motion" and meta["engine"]["stage"] == "motion"
    again = run_batch(jobs, out, LocalRunner(out, "motion"), "motion", max_attempts=1)  # same manifest semantics
    assert again.skipped == 2 and len(again.exhausted) == 2


def test_motion_scorer_prefers_the_true_motion(tmp_path):
    """A render of the sequence moves as the sequence does: tracking it gives a small error; a frozen
    video (frame 0 repeated) an error as large as the motion itself."""
    from pam.engine.filter import MotionScorer
    from pam.render.video import read_video, write_video

    (tmp_path / "job.yaml").write_text(SPEC.format(candidates=1))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["generate", "--spec", str(tmp_path / "job.yaml"), "--out", str(out), "--until",
                                   "conditions", "--set", "video.height=240", "--set", "video.width=320"])
    assert res.exit_code == 0, res.output
    (clip,) = (out / "clips").iterdir()
    scores = {}
    for name in ("seg", "normal"):
        shutil.copy(clip / f"{name}.mp4", clip / "video.mp4")
        scores[name] = MotionScorer()(clip)
    video = read_video(clip / "normal.mp4")
    write_video(clip / "video.mp4", np.repeat(video[:1], len(video), axis=0))
    frozen = MotionScorer()(clip)
    for score in scores.values():
        assert score["motion_px"] < 0.5 * frozen["motion_px"] and score["motion"] > 2 * frozen["motion"]
    assert 0.0 <= frozen["motion"] < 1.0
