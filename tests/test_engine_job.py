"""Job specs: the issue's minimal spec, deterministic content-hash clip ids, errors naming file and field."""

from pathlib import Path

import numpy as np
import pytest

from pam.config import ConfigError
from pam.engine.job import expand, load_job
from pam.sequence import Camera

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "jobs"
MINIMAL = "objects: [mug, banana]\nseeds: 2\nviews: 1\nprompts: [\"a hand grasps a {object} on a wooden table\"]\n"


def write(tmp_path, text, name="job.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_spec_expands_to_objects_times_seeds(tmp_path):
    jobs = expand(load_job(write(tmp_path, MINIMAL)))
    assert [(j.object.mesh, j.pose_seed) for j in jobs] == [("mug", 0), ("mug", 1), ("banana", 0), ("banana", 1)]
    assert jobs[2].prompt == "a hand grasps a banana on a wooden table"
    assert len({j.clip_id for j in jobs}) == 4
    assert jobs[0].video.frames == 49 and (jobs[0].video.height, jobs[0].video.width) == (480, 720)


def test_clip_ids_are_content_hashes(tmp_path):
    spec = load_job(write(tmp_path, MINIMAL))
    first = [j.clip_id for j in expand(spec)]
    again = [j.clip_id for j in expand(load_job(write(tmp_path, MINIMAL, "copy.yaml")))]
    assert first == again  # same spec, same ids (and same seeds, views, prompts)
    # a job's id does not depend on its position: dropping an object leaves the other's ids alone
    only_banana = expand(load_job(write(tmp_path, MINIMAL.replace("[mug, banana]", "[banana]"), "b.yaml")))
    assert [j.clip_id for j in only_banana] == first[2:]
    # where the weights live or how they are offloaded does not change the content; the step count does
    moved = expand(load_job(write(tmp_path, MINIMAL), ["appearance.base=/elsewhere/flux", "motion.offload=model"]))
    assert [j.clip_id for j in moved] == first
    fewer_steps = expand(load_job(write(tmp_path, MINIMAL), ["motion.steps=20"]))
    assert not {j.clip_id for j in fewer_steps} & set(first)
    smoke = expand(spec, smoke=True, smoke_size=(64, 96))
    assert not {j.clip_id for j in smoke} & set(first) and smoke[0].video.height == 64


def test_views_prompts_and_candidates_multiply_and_draw_from_the_lists(tmp_path):
    text = MINIMAL.replace("views: 1", "views: 3") + (
        "candidates: 2\nprompts: ['a hand grasps a {object} on {surface}, {lighting}', 'a {object} in {background}']\n"
        "surfaces: [a red table, a glass table]\nlighting: [dim light]\nbackgrounds: [a garden]\n"
        "camera: {azimuth: [-100, -80], elevation: [30, 40]}\n"
    ).replace('prompts: ["a hand grasps a {object} on a wooden table"]\n', "")
    jobs = expand(load_job(write(tmp_path, text)))
    assert len(jobs) == 2 * 2 * 3 * 2 * 2
    views = {(j.object.label, j.pose_seed, j.view.index): j.view for j in jobs}
    assert len(views) == 2 * 2 * 3 and all(-100 <= v.azimuth <= -80 and 30 <= v.elevation <= 40 for v in views.values())
    assert len({(v.azimuth, v.elevation) for v in views.values()}) == len(views)  # each view draws its own angles
    firsts = [j.prompt for j in jobs if j.template == 0]
    assert {p.rsplit(" on ", 1)[1] for p in firsts} <= {"a red table, dim light", "a glass table, dim light"}
    assert all(j.prompt.endswith("in a garden") for j in jobs if j.template == 1)
    assert len({j.appearance_seed for j in jobs}) == len(jobs)  # candidates differ by their Stage II seed
    assert len({j.pose_key for j in jobs}) == 4  # views, prompts and candidates share the trajectory


@pytest.mark.parametrize("text, field", [
    (MINIMAL + "colour: red\n", "colour: unknown key"),
    (MINIMAL.replace("seeds: 2", "seeds: two"), "seeds: expected an integer"),
    (MINIMAL.replace("[mug, banana]", "[mug, {mesh: banana, scale: big}]"), "objects[1].scale: expected a number"),
    (MINIMAL.replace("[mug, banana]", "[mug, {mesh: banana, scale: -1}]"), "objects[1]: scale: must be positive"),
    (MINIMAL + "video: {frames: 20}\n", "video: frames: Stage III needs 4k + 1"),
    (MINIMAL + "appearance: {dtype: float64}\n", "appearance.dtype: expected one of"),
    (MINIMAL + "camera: {fill: 3}\n", "camera: fill"),
    (MINIMAL.replace("{object} on", "{obj} on"), "prompts[0]: unknown field(s) ['obj']"),
    ("seeds: 2\nprompts: [x]\n", "objects: required"),
    (MINIMAL.replace("[mug, banana]", "[mug, bananna]"), "objects[1]: mesh: unknown built-in object 'bananna'"),
    (MINIMAL.replace("[mug, banana]", "[mug, missing.obj]"), "objects[1].mesh: no such file 'missing.obj'"),
])
def test_bad_specs_name_the_file_and_the_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_job(path)
    assert str(err.value).startswith(f"{path}: ") and field in str(err.value)


def test_bad_override_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="video.frames: expected an integer"):
        load_job(write(tmp_path, MINIMAL), ["video.frames=many"])


def test_examples_load():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert expand(load_job(path)), path


def test_auto_framing_fills_the_frame_and_keeps_every_point_in_it():
    from pam.engine.clip import frame_camera
    from pam.engine.job import ViewSpec

    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal([0.0, -0.2, 0.1], 0.05, (1, 50, 3)) + [0, 0.01 * t, 0.005 * t]
                             for t in range(20)])  # (T, N, 3) a cloud drifting over 20 frames
    for azimuth, elevation in [(-90, 30), (-40, 20), (10, 60)]:
        view = ViewSpec(0, azimuth, elevation, None, fill=0.8, fov=50)
        cam = frame_camera(points, view, 240, 320)
        uv = cam.project(points.reshape(-1, 3))
        extent = max(np.abs(uv[:, 0] - 160).max() / 160, np.abs(uv[:, 1] - 120).max() / 120)
        assert extent == pytest.approx(0.8, abs=0.02)  # the motion spans the requested share of the frame
        # and the camera looks from the requested direction
        eye = -cam.R.T @ cam.t
        d = eye - (points.reshape(-1, 3).min(0) + points.reshape(-1, 3).max(0)) / 2
        assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(azimuth, abs=1e-6)
        assert np.degrees(np.arcsin(d[2] / np.linalg.norm(d))) == pytest.approx(elevation, abs=1e-6)
    fixed = frame_camera(points, ViewSpec(0, -90, 30, 2.0, fill=0.8, fov=50), 240, 320)
    assert isinstance(fixed, Camera) and np.linalg.norm(-fixed.R.T @ fixed.t - (points.reshape(-1, 3).min(0) + points.reshape(-1, 3).max(0)) / 2) == pytest.approx(2.0)


def test_placement_ranges_draw_per_trajectory_and_become_keyframe_files(tmp_path):
    from pam.engine.clip import built_in_keyframes
    from pam.pose.keyframes import default_keyframes, load_init, load_target

    text = MINIMAL + "keyframes: {object_x: [-0.03, 0.03], object_yaw: [-90, 90], approach: [-40, 40], lift: [0.1, 0.2]}\n"
    jobs = expand(load_job(write(tmp_path, text)))
    placements = [j.placement for j in jobs]
    assert len(set(placements)) == 4 and all(-40 <= p.approach <= 40 and 0.1 <= p.lift <= 0.2 for p in placements)
    assert placements == [j.placement for j in expand(load_job(write(tmp_path, text)))]
    assert len({j.pose_key for j in jobs}) == 4
    job = jobs[0]
    p = job.placement
    init, target = built_in_keyframes(job, tmp_path / "work")
    h0, o0 = load_init(init)
    ref = default_keyframes("mug")[0]
    # the hand's start keeps its distance and height and turns by the approach angle about the vertical
    assert np.linalg.norm(h0.transl[:2]) == pytest.approx(np.linalg.norm(ref.transl[:2]))
    assert h0.transl[2] == pytest.approx(ref.transl[2])
    turned = np.degrees(np.arctan2(h0.transl[1], h0.transl[0]) - np.arctan2(ref.transl[1], ref.transl[0]))
    assert turned == pytest.approx(p.approach, abs=1e-6)
    assert np.allclose(o0.translation, [p.object_x, p.object_y, 0.0])
    assert np.degrees(np.arctan2(o0.rotation[1, 0], o0.rotation[0, 0])) == pytest.approx(p.object_yaw, abs=1e-6)
    assert np.allclose(load_target(target, initial=h0).offset_from_grasp, [0, 0, p.lift])


def test_placement_ranges_with_keyframe_files_are_refused(tmp_path):
    text = MINIMAL + "keyframes: {init: pose_init.json, approach: [-10, 10]}\n"
    with pytest.raises(ConfigError, match="keyframes: init: the placement ranges apply to the built-in scene"):
        load_job(write(tmp_path, text))


def test_weight_fingerprints_follow_the_files(tmp_path):
    from pam.engine.clip import fingerprint

    model = tmp_path / "model"
    (model / "transformer").mkdir(parents=True)
    weights = model / "transformer" / "diffusion_pytorch_model.safetensors"
    data = bytearray(np.random.default_rng(0).bytes(3 << 20))
    weights.write_bytes(data)
    (model / "README.md").write_text("not a weight file")
    first = fingerprint(model)
    (model / "README.md").write_text("edited")
    assert fingerprint(model) == first  # only weight and config files count
    data[-1] ^= 1  # a change in the last MiB
    weights.write_bytes(data)
    assert fingerprint(model) != first
    assert fingerprint(weights) != fingerprint(model)  # a single file is fingerprinted by itself


def test_importing_the_engine_loads_no_heavy_dependency():
    import subprocess
    import sys

    code = ("import sys, pam.engine.cli, pam.engine.batch, pam.engine.filter, pam.engine.export, pam.engine.gallery;"
            "print(sorted(m for m in ('ray', 'diffusers', 'accelerate', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_grasp_steering_reaches_stage_one_or_is_refused(tmp_path, monkeypatch):
    import pam.pose.command
    import pam.pose.grasp
    from pam.engine.clip import stage_one

    text = MINIMAL + "grasp: {approach: top, region: [0.0, 0.0, 0.05], family: power}\n"
    job = expand(load_job(write(tmp_path, text)))[0]
    assert job.grasp.region == (0.0, 0.0, 0.05) and job.grasp.roll is None
    seen = {}

    class Request:  # stands in for pam.pose.grasp.GraspRequest
        def __init__(self, **fields):
            seen["fields"] = fields

    def pose_sequences(object, init=None, target=None, seed=0, frames=49, fps=15.0, request=None):
        seen["request"] = request
        raise RuntimeError("stop before simulating")

    monkeypatch.setattr(pam.pose.grasp, "GraspRequest", Request, raising=False)
    monkeypatch.setattr(pam.pose.command, "pose_sequences", pose_sequences)
    with pytest.raises(RuntimeError, match="stop before simulating"):
        stage_one(job, tmp_path / "work")
    assert seen["fields"] == {"approach": "top", "region": (0.0, 0.0, 0.05), "family": "power"}
    assert isinstance(seen["request"], Request)
    monkeypatch.delattr(pam.pose.grasp, "GraspRequest")  # a Stage I without steering: a clear error
    with pytest.raises(ValueError, match="grasp: steering needs pam.pose.grasp.GraspRequest"):
        stage_one(job, tmp_path / "work")
