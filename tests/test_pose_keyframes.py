"""Keyframe JSON format: presets, rotations in both notations, errors naming file and field."""

import json

import numpy as np
import pytest

from pam.pose.keyframes import (
    load_scene_init,
    load_scene_target,
    HAND_PRESETS,
    KeyframeError,
    default_camera,
    hand_preset,
    load_init,
    load_target,
)
from pam.rotations import axis_angle_to_matrix_np


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_example_files_load(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    h0, obj = load_init(root / "pose_init.json")
    hT = load_target(root / "pose_target.json", initial=h0)
    assert h0.side == "right" and obj.mesh == "soup_can"
    np.testing.assert_allclose(h0.hand_pose, hand_preset("relaxed"))
    np.testing.assert_allclose(obj.rotation, axis_angle_to_matrix_np(np.array([0.0, 0.0, 0.5])))
    assert hT.offset_from_grasp is not None and hT.global_orient is None
    hands, objects, _ = load_scene_init(root / "pose_init_two_hands.json")
    targets = load_scene_target(root / "pose_target_two_hands.json", hands)
    assert [h.side for h in hands] == ["right", "left"] and len(objects) == len(targets) == 2
    assert load_scene_target(root / "pose_target_place.json", [h0])[0][1].kind == "place"
    assert load_scene_target(root / "pose_target_pour.json", [h0])[0][1].kind == "tilt"


def test_presets_are_mirrored_for_the_left_hand():
    for name in HAND_PRESETS:
        right, left = hand_preset(name, "right"), hand_preset(name, "left")
        np.testing.assert_allclose(left, right * np.tile([1.0, -1.0, -1.0], 15))
    assert np.allclose(hand_preset("open"), 0.0)
    # a grasp closes further than the relaxed hand
    assert np.linalg.norm(hand_preset("power_grasp")) > np.linalg.norm(hand_preset("relaxed"))


def test_rotation_as_matrix_equals_axis_angle(tmp_path):
    aa = [0.1, -0.4, 0.3]
    mat = axis_angle_to_matrix_np(np.array(aa)).tolist()
    base = {"hand": {"global_orient": aa, "transl": [0, 0, 0.1]}, "object": {"mesh": "ball", "rotation": aa}}
    h_a, o_a = load_init(_write(tmp_path / "a.json", base))
    base["hand"]["global_orient"] = mat
    base["object"]["rotation"] = mat
    h_m, o_m = load_init(_write(tmp_path / "m.json", base))
    np.testing.assert_allclose(h_a.global_orient, h_m.global_orient, atol=1e-12)
    np.testing.assert_allclose(o_a.rotation, o_m.rotation, atol=1e-12)


def test_relative_mesh_path_is_resolved_beside_the_file(tmp_path):
    data = {"hand": {"global_orient": [0, 0, 0], "transl": [0, 0, 0]}, "object": {"mesh": "meshes/cup.obj"}}
    _, obj = load_init(_write(tmp_path / "init.json", data))
    assert obj.mesh == str(tmp_path / "meshes" / "cup.obj")


@pytest.mark.parametrize(
    "hand, match",
    [
        ({"global_orient": [0, 0], "transl": [0, 0, 0]}, "global_orient: expected"),
        ({"global_orient": [0, 0, 0]}, "missing transl"),
        ({"global_orient": [0, 0, 0], "transl": [0, 0, 0], "hand_pose": "fist"}, "unknown preset 'fist'"),
        ({"global_orient": [0, 0, 0], "transl": [0, float("nan"), 0]}, "transl: contains NaN"),
        ({"global_orient": [[1, 0, 0], [0, 1, 0], [0, 0, 2]], "transl": [0, 0, 0]}, "not a rotation"),
        ({"global_orient": [0, 0, 0], "transl": [0, 0, 0], "side": "middle"}, "side"),
        ({"global_orient": [0, 0, 0], "transl": [0, 0, 0], "hand_pose": [0.0] * 44}, "hand_pose: expected 45"),
        ({"global_orient": [[1, 0, 0], [0, 1]], "transl": [0, 0, 0]}, "global_orient: expected"),
        ({"global_orient": "up", "transl": [0, 0, 0]}, "global_orient: expected"),
    ],
)
def test_bad_hand_fields_name_the_file_and_field(tmp_path, hand, match):
    path = _write(tmp_path / "init.json", {"hand": hand, "object": {"mesh": "mug"}})
    with pytest.raises(KeyframeError, match=match) as info:
        load_init(path)
    assert "init.json" in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_init(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(KeyframeError, match="not valid JSON"):
        load_init(tmp_path / "broken.json")
    with pytest.raises(KeyframeError, match="give either 'object' or 'objects'"):
        load_init(_write(tmp_path / "noobj.json", {"hand": {"global_orient": [0, 0, 0], "transl": [0, 0, 0]}}))
    both = {"hand": {"offset_from_grasp": [0, 0, 0.1], "transl": [0, 0, 0], "global_orient": [0, 0, 0]}}
    with pytest.raises(KeyframeError, match="either offset_from_grasp"):
        load_target(_write(tmp_path / "t.json", both))
    with pytest.raises(KeyframeError, match="scale"):
        load_init(_write(tmp_path / "s.json", {"hand": {"global_orient": [0, 0, 0], "transl": [0, 0, 0]},
                                               "object": {"mesh": "mug", "scale": -1}}))


def test_default_camera_sees_the_points():
    pts = np.array([[0.0, 0.0, 0.0], [0.1, -0.3, 0.2], [-0.05, 0.05, 0.1]])
    cam = default_camera(pts)
    uv = cam.project(pts)
    assert np.all(cam.world_to_camera(pts)[:, 2] > 0)  # in front
    assert np.all((uv >= 0) & (uv <= [cam.width, cam.height]))
    # world up (+z) points up in the image (-v)
    up = cam.project(np.array([[0.0, 0.0, 0.05]]))[0] - cam.project(np.array([[0.0, 0.0, 0.0]]))[0]
    assert up[1] < 0


@pytest.mark.parametrize("obj, match", [
    ({"mesh": "mug", "scale": "big"}, r"object\.scale: expected a number"),
    ({"mesh": "mug", "rotation": [[1, 0], [0, 1, 0]]}, r"object\.rotation: expected"),
])
def test_bad_object_fields_name_the_file_and_field(tmp_path, obj, match):
    path = _write(tmp_path / "init.json", {"hand": {"global_orient": [0, 0, 0], "transl": [0, 0, 0]}, "object": obj})
    with pytest.raises(KeyframeError, match=match) as info:
        load_init(path)
    assert "init.json" in str(info.value)


HAND = {"global_orient": [0, 0, 0], "transl": [0, 0, 0.1]}


@pytest.mark.parametrize("data, match", [
    ({"hand": dict(HAND, hand_pos="relaxed"), "object": {"mesh": "mug"}}, r"hand: unknown key 'hand_pos' \(did you mean 'hand_pose'\?\)"),
    ({"hand": HAND, "object": {"mesh": "mug", "scal": 2}}, r"object: unknown key 'scal' \(did you mean 'scale'\?\)"),
    ({"hand": HAND, "object": {"mesh": "mug"}, "tabel_z": 0}, r"unknown key 'tabel_z' \(did you mean 'table_z'\?\)"),
    ({"hands": [HAND, HAND, HAND], "objects": [{"mesh": "mug"}]}, "'hands' must be a list of one or two entries"),
    ({"hands": [HAND, dict(HAND, trnasl=[0, 0, 0])], "objects": [{"mesh": "mug"}, {"mesh": "ball"}]}, r"hands\[1\]: unknown key 'trnasl'"),
])
def test_misspelt_or_inconsistent_init_keys_are_errors_naming_the_key(tmp_path, data, match):
    with pytest.raises(KeyframeError, match=match):
        load_scene_init(_write(tmp_path / "init.json", data))


def test_two_hand_scene_with_goals(tmp_path):
    init = _write(tmp_path / "init.json", {
        "hands": [HAND, dict(HAND, side="left")], "objects": [{"mesh": "mug"}, {"mesh": "ball"}], "table_z": 0.01})
    hands, objects, table_z = load_scene_init(init)
    assert [h.side for h in hands] == ["right", "left"] and [o.mesh for o in objects] == ["mug", "ball"]
    assert table_z == 0.01
    target = _write(tmp_path / "target.json", {"hands": [
        {"goal": {"type": "place", "rotation": [0, 0, 1.0], "translation": [0.1, 0, 0]}},
        {"offset_from_grasp": [0, 0, 0.1], "goal": {"type": "tilt", "axis": [0, 2, 0], "degrees": 90}},
    ]})
    (hT0, g0, o0), (hT1, g1, o1) = load_scene_target(target, hands)
    assert g0.kind == "place" and hT0.transl is None and o0 == 0  # a place goal needs no wrist pose
    np.testing.assert_allclose(g0.translation, [0.1, 0, 0])
    assert g1.kind == "tilt" and g1.angle == pytest.approx(np.pi / 2) and o1 == 1 and hT1.side == "left"
    np.testing.assert_allclose(g1.axis, [0, 1, 0])
    assert g1.to_json() == {"type": "tilt", "axis": [0.0, 1.0, 0.0], "degrees": 90.0}


def test_both_hands_on_one_object(tmp_path):
    init = _write(tmp_path / "init.json", {"hands": [HAND, dict(HAND, side="left")], "object": {"mesh": "bowl"}})
    hands, objects, _ = load_scene_init(init)
    assert len(hands) == 2 and [o.mesh for o in objects] == ["bowl"]
    target = _write(tmp_path / "target.json", {"hands": [{"offset_from_grasp": [0, 0, 0.1], "object": 0},
                                                         {"hand_pose": "pinch", "object": 0}]})
    assert [o for _, _, o in load_scene_target(target, hands)] == [0, 0]


@pytest.mark.parametrize("goal, match", [
    ({"type": "pour"}, "type 'lift', 'tilt' or 'place'"),
    ({"type": "tilt", "axis": [0, 0, 1], "degrees": 30}, "horizontal axis"),
    ({"type": "tilt", "axis": [1, 0, 0]}, "needs 'degrees'"),
    ({"type": "place", "translation": [0, 0, 0]}, "needs 'rotation'"),
    ({"type": "tilt", "axis": [1, 0, 0], "degrees": 30, "angel": 3}, "unknown key 'angel'"),
])
def test_bad_goals_name_the_field(tmp_path, goal, match):
    hands, _, _ = load_scene_init(_write(tmp_path / "init.json", {"hand": HAND, "object": {"mesh": "mug"}}))
    with pytest.raises(KeyframeError, match=match):
        load_scene_target(_write(tmp_path / "target.json", {"hand": {"offset_from_grasp": [0, 0, 0.1], "goal": goal}}), hands)
