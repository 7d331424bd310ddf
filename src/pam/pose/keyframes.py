"""Stage I keyframes: the initial hand h0, the object and its initial pose o0, and the target hand hT.

World frame: metres, z up (gravity -z); the object rests on a table whose top is the plane through
the object's lowest point in o0. Built-in objects (``pam.objects``) are modelled standing on z = 0,
so ``translation: [0, 0, 0]`` puts them on a table at height 0.

JSON format (see ``examples/pose_init.json`` and ``examples/pose_target.json``)::

    init.json
    {
      "hand": {
        "side": "right",                 # "right" (default) or "left"
        "model": "open",                 # hand model: "open" (default) or "mano"
        "global_orient": [rx, ry, rz],   # wrist rotation, axis-angle (radians) or a 3x3 matrix
        "transl": [x, y, z],             # MANO translation (metres)
        "hand_pose": "relaxed",          # 45 MANO axis-angles, or a preset name (HAND_PRESETS)
        "betas": [0, ...]                # 10 shape values (optional, default zeros)
      },
      "object": {
        "mesh": "mug",                   # a built-in name or a mesh file (relative to the JSON file)
        "scale": 1.0,                    # mesh units -> metres (optional)
        "rotation": [rx, ry, rz],        # object-to-world, axis-angle or 3x3 (optional, identity)
        "translation": [x, y, z]         # object-to-world (optional, zeros)
      }
    }

    target.json
    {
      "hand": {
        "hand_pose": "power_grasp",      # grasp style: the fingers close along this pose
        "global_orient": [...], "transl": [...]   # absolute final wrist pose, or instead:
        "offset_from_grasp": [0, 0, 0.15]         # final wrist = grasping wrist moved by this (metres)
      },
      "grasp": {                         # optional steering (pam.pose.grasp.GraspRequest), each key optional
        "approach": "top",               # "top", "side", "front" or [x, y, z]: object -> hand, world frame
        "region": "handle",              # a built-in's part name, or [x, y, z] in the object's frame (metres)
        "roll_deg": 0,                   # wrist roll about the approach (degrees)
        "family": "hook"                 # "power", "precision" or "hook"
      }
    }

    Two hands, each with its own object: ``{"hands": [{...}, {...}], "objects": [{...}, {...}]}``
    in init.json and ``{"hands": [{...}, {...}]}`` in target.json. A target hand may also give
    ``"goal"`` (``parse_goal``: lift, tilt about a horizontal axis, or place at a pose) and
    ``"object"`` (the index of its object). Both hands on one object: one object in init.json and
    ``"object": 0`` in both target hands; the first hand's target and goal move the object, the
    second hand's target gives its grasp style only. init.json may give ``"table_z"``.

Every field is checked, unknown keys are errors, and errors name the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pam.hand.anatomy import curl_pose, mirror_pose, rest_keypoints_mm, to_model_frame
from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

#: Named hand poses: per-finger closures (thumb, index, middle, ring, little) as fractions of each
#: joint's flexion range (``pam.hand.anatomy.curl_pose``), and the thumb's palmar abduction
#: (radians at its base joint, swinging it out in front of the palm to oppose the fingers).
PRESETS = {
    "open": ((0.0, 0.0, 0.0, 0.0, 0.0), 0.0),
    "relaxed": ((0.15, 0.15, 0.2, 0.25, 0.3), 0.3),
    "preshape": ((0.0, 0.08, 0.08, 0.08, 0.08), 0.3),
    "power_grasp": ((0.8, 0.75, 0.75, 0.75, 0.75), 0.9),
    "pinch": ((0.6, 0.5, 0.45, 0.5, 0.55), 0.8),
}
HAND_PRESETS = tuple(PRESETS)
_THUMB_BASE = slice(36, 39)  # MANO pose slot of the thumb's base joint


def _thumb_abduction_axis() -> np.ndarray:
    """Right hand, rest frame: the axis turning the thumb's metacarpal towards the palm normal (-y)."""
    keypoints = to_model_frame(rest_keypoints_mm())
    bone = keypoints[14] - keypoints[13]  # thumb base -> thumb middle joint (kinematic order)
    axis = np.cross(bone, [0.0, -1.0, 0.0])
    return axis / np.linalg.norm(axis)


class KeyframeError(ValueError):
    """A malformed keyframe; the message names the file and field."""


def hand_preset(name: str, side: str = "right") -> np.ndarray:
    """The (45,) ``hand_pose`` of a named preset for ``side``."""
    if name not in PRESETS:
        raise KeyError(f"unknown hand pose preset {name!r}; choose from {', '.join(HAND_PRESETS)}")
    closures, abduction = PRESETS[name]
    pose = curl_pose(np.array(closures))
    pose[_THUMB_BASE] = abduction * _thumb_abduction_axis() + 0.3 * pose[_THUMB_BASE]
    return mirror_pose(pose) if side == "left" else pose


@dataclass
class HandKeyframe:
    """One hand state. ``global_orient``/``transl`` may be None in a target given relative to the grasp."""

    hand_pose: np.ndarray
    global_orient: np.ndarray | None = None
    transl: np.ndarray | None = None
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10))
    side: str = "right"
    model: str = "open"
    offset_from_grasp: np.ndarray | None = None


@dataclass
class ObjectGoal:
    """What the hand does with its object after grasping it.

    kind "lift": carried rigidly to the target hand's wrist pose (hT) and held there.
    kind "tilt": as lift, then turned by ``angle`` (radians) about the horizontal unit ``axis``
    through the object's centre (pouring).
    kind "place": carried to the object pose ``rotation`` (3, 3), ``translation`` (3,) on the
    table, released, and the hand withdraws.
    """

    kind: str = "lift"
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    axis: np.ndarray | None = None
    angle: float = 0.0

    def to_json(self) -> dict:
        out: dict = {"type": self.kind}
        if self.kind == "place":
            out.update(rotation=matrix_to_axis_angle_np(self.rotation).tolist(), translation=self.translation.tolist())
        if self.kind == "tilt":
            out.update(axis=self.axis.tolist(), degrees=float(np.degrees(self.angle)))
        return out


@dataclass
class ObjectKeyframe:
    """The object and its initial pose (object-to-world)."""

    mesh: str
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0


def _vector(where: str, value: Any, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KeyframeError(f"{where}: expected {n} numbers, got {value!r}") from exc
    if arr.shape != (n,):
        raise KeyframeError(f"{where}: expected {n} numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise KeyframeError(f"{where}: contains NaN or inf")
    return arr


def _rotation(where: str, value: Any) -> np.ndarray:
    """Axis-angle (3,) or matrix (3, 3) -> (3, 3) rotation matrix."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KeyframeError(f"{where}: expected an axis-angle (3 numbers) or a 3x3 matrix, got {value!r}") from exc
    if arr.shape == (3,):
        return axis_angle_to_matrix_np(_vector(where, arr, 3))
    if arr.shape != (3, 3) or not np.all(np.isfinite(arr)):
        raise KeyframeError(f"{where}: expected an axis-angle (3 numbers) or a 3x3 matrix, got shape {arr.shape}")
    if np.abs(arr.T @ arr - np.eye(3)).max() > 1e-4 or abs(np.linalg.det(arr) - 1.0) > 1e-4:
        raise KeyframeError(f"{where}: the 3x3 matrix is not a rotation")
    return arr


HAND_KEYS = ("side", "model", "global_orient", "transl", "hand_pose", "betas")
TARGET_KEYS = HAND_KEYS + ("offset_from_grasp", "goal", "object")
OBJECT_KEYS = ("mesh", "name", "scale", "rotation", "translation")
GOAL_KEYS = {"lift": ("type",), "tilt": ("type", "axis", "degrees"), "place": ("type", "rotation", "translation")}


def _check_keys(where: str, data: dict, allowed: tuple) -> None:
    """Unknown keys are errors that name the key (a misspelt field must not be silently ignored)."""
    for key in data:
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyframeError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")


def parse_hand(data: dict, where: str, target: bool = False, side: str = "right", placed: bool = False) -> HandKeyframe:
    """A hand keyframe from its JSON dict (``where`` names it in errors; ``side`` is the default).

    A target hand of a place goal, or the second hand holding an object (``placed``), needs no wrist
    pose: the placement, or the other hand, moves the object."""
    if not isinstance(data, dict):
        raise KeyframeError(f"{where}: expected an object with hand fields, got {type(data).__name__}")
    _check_keys(where, data, TARGET_KEYS if target else HAND_KEYS)
    side = data.get("side", side)
    if side not in ("right", "left"):
        raise KeyframeError(f"{where}.side: expected 'right' or 'left', got {side!r}")
    model = data.get("model", "open")
    if model not in ("open", "mano"):
        raise KeyframeError(f"{where}.model: expected 'open' or 'mano', got {model!r}")
    pose = data.get("hand_pose", "power_grasp" if target else "relaxed")
    if isinstance(pose, str):
        if pose not in PRESETS:
            raise KeyframeError(f"{where}.hand_pose: unknown preset {pose!r}; choose from {', '.join(HAND_PRESETS)}")
        pose = hand_preset(pose, side)
    hand = HandKeyframe(hand_pose=_vector(f"{where}.hand_pose", pose, 45), side=side, model=model)
    if "betas" in data:
        hand.betas = _vector(f"{where}.betas", data["betas"], 10)
    if target and "offset_from_grasp" in data:
        if "transl" in data or "global_orient" in data:
            raise KeyframeError(f"{where}: give either offset_from_grasp or global_orient + transl, not both")
        hand.offset_from_grasp = _vector(f"{where}.offset_from_grasp", data["offset_from_grasp"], 3)
        return hand
    if placed and "global_orient" not in data and "transl" not in data:
        return hand
    for key in ("global_orient", "transl"):
        if key not in data:
            extra = " (or offset_from_grasp)" if target else ""
            raise KeyframeError(f"{where}: missing {key}{extra}")
    hand.global_orient = matrix_to_axis_angle_np(_rotation(f"{where}.global_orient", data["global_orient"]))
    hand.transl = _vector(f"{where}.transl", data["transl"], 3)
    return hand


def parse_object(data: dict, where: str, base: Path | None = None) -> ObjectKeyframe:
    """An object keyframe from its JSON dict; a relative mesh path is taken relative to ``base``."""
    if not isinstance(data, dict) or not isinstance(data.get("mesh", data.get("name")), str):
        raise KeyframeError(f"{where}: expected an object with a 'mesh' (built-in name or file path)")
    _check_keys(where, data, OBJECT_KEYS)
    mesh = data.get("mesh", data.get("name"))
    if base is not None and Path(mesh).suffix and not Path(mesh).is_absolute():
        mesh = str(base / mesh)
    try:
        scale = float(data.get("scale", 1.0))
    except (TypeError, ValueError) as exc:
        raise KeyframeError(f"{where}.scale: expected a number, got {data['scale']!r}") from exc
    if not np.isfinite(scale) or scale <= 0:
        raise KeyframeError(f"{where}.scale: must be positive, got {scale}")
    return ObjectKeyframe(
        mesh=mesh,
        rotation=_rotation(f"{where}.rotation", data.get("rotation", [0.0, 0.0, 0.0])),
        translation=_vector(f"{where}.translation", data.get("translation", [0.0, 0.0, 0.0]), 3),
        scale=scale,
    )


def _read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such keyframe file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise KeyframeError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise KeyframeError(f"{path}: expected a JSON object at the top level")
    return data


def parse_goal(data: Any, where: str) -> ObjectGoal:
    """An ``ObjectGoal`` from its JSON dict: ``{"type": "lift"}``, ``{"type": "tilt", "axis": [x, y, 0],
    "degrees": 90}`` or ``{"type": "place", "rotation": [...], "translation": [...]}``."""
    if not isinstance(data, dict) or data.get("type") not in GOAL_KEYS:
        raise KeyframeError(f"{where}: expected an object with type 'lift', 'tilt' or 'place', got {data!r}")
    kind = data["type"]
    _check_keys(where, data, GOAL_KEYS[kind])
    for key in GOAL_KEYS[kind][1:]:
        if key not in data:
            raise KeyframeError(f"{where}: a {kind} goal needs '{key}'")
    if kind == "place":
        return ObjectGoal("place", rotation=_rotation(f"{where}.rotation", data["rotation"]),
                          translation=_vector(f"{where}.translation", data["translation"], 3))
    if kind == "tilt":
        axis = _vector(f"{where}.axis", data["axis"], 3)
        norm = np.linalg.norm(axis)
        if norm < 1e-9 or abs(axis[2]) > 1e-6 * norm:
            raise KeyframeError(f"{where}.axis: a tilt turns about a horizontal axis (z = 0), got {axis.tolist()}")
        degrees = _vector(f"{where}.degrees", [data["degrees"]], 1)[0]
        if not 0 < abs(degrees) <= 180:
            raise KeyframeError(f"{where}.degrees: expected 0 < |degrees| <= 180, got {degrees}")
        return ObjectGoal("tilt", axis=axis / norm, angle=float(np.radians(degrees)))
    return ObjectGoal("lift")


def _entries(path, data: dict, single: str, plural: str) -> list:
    if (single in data) == (plural in data):
        raise KeyframeError(f"{path}: give either '{single}' or '{plural}' (a list)")
    if single in data:
        return [data[single]]
    if not isinstance(data[plural], list) or not 1 <= len(data[plural]) <= 2:
        raise KeyframeError(f"{path}: '{plural}' must be a list of one or two entries")
    return data[plural]


def load_scene_init(path: str | Path) -> tuple[list[HandKeyframe], list[ObjectKeyframe], float | None]:
    """Initial hands, objects and the table height (None: the objects' lowest point) of an init file.

    One hand: ``{"hand": {...}, "object": {...}}``; two hands, each with its own object:
    ``{"hands": [{...}, {...}], "objects": [{...}, {...}]}``, or both on one (``"objects": [{...}]``,
    the target file gives both hands ``"object": 0``). Optional ``"table_z"`` (metres).
    """
    data = _read_json(path)
    _check_keys(str(path), data, ("hand", "hands", "object", "objects", "table_z"))
    hands = _entries(path, data, "hand", "hands")
    objects = _entries(path, data, "object", "objects")
    tag = "hand" if "hand" in data else "hands[{}]"
    otag = "object" if "object" in data else "objects[{}]"
    h0 = [parse_hand(h, f"{path}: {tag.format(i)}") for i, h in enumerate(hands)]
    objs = [parse_object(o, f"{path}: {otag.format(i)}", Path(path).parent) for i, o in enumerate(objects)]
    table_z = None
    if "table_z" in data:
        table_z = float(_vector(f"{path}: table_z", [data["table_z"]], 1)[0])
    return h0, objs, table_z


def load_scene_target(path: str | Path, initial: list[HandKeyframe]) -> list[tuple[HandKeyframe, ObjectGoal, int]]:
    """Target hands of a target file, one per initial hand: (hT, goal, object index).

    ``{"hand": {...}}`` or ``{"hands": [{...}, {...}]}``; each may hold ``"goal"`` (``parse_goal``,
    default lift) and ``"object"`` (the index of its object, default its own position); the
    second hand on an object needs no wrist target (the first hand's moves the object). Side,
    model and betas default to the initial hand's.
    """
    data = _read_json(path)
    _check_keys(str(path), data, ("hand", "hands", "grasp"))
    entries = _entries(path, data, "hand", "hands")
    tag = "hand" if "hand" in data else "hands[{}]"
    if len(entries) != len(initial):
        raise KeyframeError(f"{path}: {len(entries)} target hands for {len(initial)} initial hands")
    out = []
    for i, (entry, h0) in enumerate(zip(entries, initial)):
        where = f"{path}: {tag.format(i)}"
        goal = parse_goal(entry["goal"], f"{where}.goal") if isinstance(entry, dict) and "goal" in entry else ObjectGoal()
        obj = entry.get("object", i) if isinstance(entry, dict) else i
        if not isinstance(obj, int) or isinstance(obj, bool) or obj < 0:
            raise KeyframeError(f"{where}.object: expected an object index, got {obj!r}")
        second = any(o == obj for _, _, o in out)  # the other hand's target moves their shared object
        hand = parse_hand(entry, where, target=True, side=h0.side, placed=goal.kind == "place" or second)
        if hand.side != h0.side:
            raise KeyframeError(f"{where}.side {hand.side!r} differs from the initial hand's {h0.side!r}")
        hand.model = entry.get("model", h0.model)
        if "betas" not in entry:
            hand.betas = h0.betas
        out.append((hand, goal, obj))
    return out


def load_init(path: str | Path) -> tuple[HandKeyframe, ObjectKeyframe]:
    """Read h0 and o0 from a one-hand init JSON file."""
    h0, objs, _ = load_scene_init(path)
    if len(h0) != 1 or len(objs) != 1:
        raise KeyframeError(f"{path}: expected one hand and one object")
    return h0[0], objs[0]


def load_target(path: str | Path, initial: HandKeyframe | None = None) -> HandKeyframe:
    """Read hT from a one-hand target JSON file; side, model and betas default to the ``initial`` hand's."""
    initial = initial or HandKeyframe(hand_pose=np.zeros(45))
    return load_scene_target(path, [initial])[0][0]


#: Keys of a target file's optional "grasp" section.
GRASP_KEYS = ("approach", "region", "roll_deg", "family")


def parse_grasp_request(data: dict, where: str):
    """A ``GraspRequest`` from a target file's "grasp" section (``where`` names it in errors)."""
    from pam.pose.grasp import GraspRequest

    if not isinstance(data, dict):
        raise KeyframeError(f"{where}: expected an object with {', '.join(GRASP_KEYS)}")
    for key in data:
        if key not in GRASP_KEYS:
            raise KeyframeError(f"{where}.{key}: unknown key; expected {', '.join(GRASP_KEYS)}")
    roll = data.get("roll_deg")
    if roll is not None and (isinstance(roll, bool) or not isinstance(roll, (int, float))):
        raise KeyframeError(f"{where}.roll_deg: expected a number of degrees, got {roll!r}")
    try:
        return GraspRequest(data.get("approach"), data.get("region"), None if roll is None else np.radians(roll),
                            data.get("family"))
    except KeyframeError as exc:
        raise KeyframeError(f"{where}.{exc}") from exc


def load_grasp_request(path: str | Path):
    """The ``GraspRequest`` of a target file's "grasp" section, or None without one."""
    data = _read_json(path)
    return parse_grasp_request(data["grasp"], f"{path}: grasp") if "grasp" in data else None


# --- defaults: `pam pose --object mug` with nothing else ---------------------------------------

#: Right hand, fingers pointing along +y (towards the object), palm facing down (-z).
_REACH_ORIENT = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def default_keyframes(mesh: str = "mug", side: str = "right") -> tuple[HandKeyframe, ObjectKeyframe, HandKeyframe]:
    """h0, o0, hT of the built-in scene: the object on a table at the origin, a relaxed hand 30 cm in
    front of it (-y) and 12 cm up, palm down; the target lifts the grasped object by 15 cm."""
    rot = _REACH_ORIENT if side == "right" else np.diag([-1.0, 1.0, 1.0]) @ _REACH_ORIENT @ np.diag([-1.0, 1.0, 1.0])
    h0 = HandKeyframe(
        hand_pose=hand_preset("relaxed", side), global_orient=matrix_to_axis_angle_np(rot),
        transl=np.array([0.0, -0.30, 0.12]), side=side,
    )
    hT = HandKeyframe(hand_pose=hand_preset("power_grasp", side), side=side, offset_from_grasp=np.array([0.0, 0.0, 0.15]))
    return h0, ObjectKeyframe(mesh=mesh), hT


def default_camera(points: np.ndarray, fov_y_deg: float = 50.0, height: int = 480, width: int = 720):
    """A camera in front of (-y) and above the points (N, 3), framing them all."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2.0
    radius = 0.5 * float((hi - lo).max()) + 0.05  # margin for the hand's and object's size
    distance = 1.1 * radius / np.tan(np.deg2rad(fov_y_deg) / 2.0)
    direction = np.array([0.35, -0.8, 0.5])
    from pam.sequence import Camera

    eye = centre + distance * direction / np.linalg.norm(direction)
    return Camera.look_at(eye, centre, fov_y_deg=fov_y_deg, height=height, width=width)
