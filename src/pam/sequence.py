"""The one data type of the engine: a hand-object interaction sequence.

Conventions (see DESIGN.md): metres and radians; OpenCV camera frame (x right, y down,
z forward); extrinsics map world to camera, ``x_cam = R @ x_world + t``; MANO hand parameters.

On disk a sequence is one ``.npz`` (arrays plus a ``__meta__`` JSON string, enough to load it)
and a readable ``.json`` sidecar next to it holding the same content as plain lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pam.fileio import atomic_path, load_arrays

FORMAT_VERSION = 1
HAND_SIDES = ("right", "left")


class SequenceError(ValueError):
    """A malformed sequence, camera or track; the message names the offending field."""


def _as_array(name: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    """Convert to float64 and check the shape (``None`` matches any length) and finiteness."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise SequenceError(f"{name}: expected shape {want}, got {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise SequenceError(f"{name}: contains NaN or inf")
    return arr


def _check_rotations(name: str, rot: np.ndarray, tol: float = 1e-4) -> None:
    """Raise unless every (3, 3) matrix in ``rot`` (..., 3, 3) is a proper rotation."""
    eye = np.eye(3)
    err = np.abs(np.einsum("...ji,...jk->...ik", rot, rot) - eye).max(axis=(-2, -1))
    det = np.linalg.det(rot)
    bad = np.flatnonzero(np.atleast_1d((err > tol) | (np.abs(det - 1.0) > tol)))
    if bad.size:
        raise SequenceError(
            f"{name}: not a rotation matrix at index {int(bad[0])} "
            f"(|R^T R - I| = {np.atleast_1d(err)[bad[0]]:.2e}, det = {np.atleast_1d(det)[bad[0]]:.4f})"
        )


def project_points(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) -> pixels (..., 2) through intrinsics K (3, 3) (x right, y down)."""
    uvw = np.asarray(points) @ np.asarray(K).T
    return uvw[..., :2] / uvw[..., 2:3]


@dataclass
class Camera:
    """A pinhole camera.

    Attributes:
        K: (3, 3) intrinsics.
        R: (3, 3) world-to-camera rotation, or (T, 3, 3) for a moving camera.
        t: (3,) world-to-camera translation, or (T, 3).
        height, width: image size in pixels.
    """

    K: np.ndarray
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    height: int = 480
    width: int = 720

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Coerce fields to float64 arrays and raise ``SequenceError`` on bad values."""
        self.K = _as_array("camera.K", self.K, (3, 3))
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise SequenceError(f"camera.K: focal lengths must be positive, got {self.K[0, 0]}, {self.K[1, 1]}")
        moving = np.ndim(self.R) == 3
        self.R = _as_array("camera.R", self.R, (None, 3, 3) if moving else (3, 3))
        self.t = _as_array("camera.t", self.t, (None, 3) if moving else (3,))
        if moving and len(self.R) != len(self.t):
            raise SequenceError(f"camera: {len(self.R)} rotations but {len(self.t)} translations")
        _check_rotations("camera.R", self.R)
        if int(self.height) <= 0 or int(self.width) <= 0:
            raise SequenceError(f"camera: image size must be positive, got {self.height} x {self.width}")
        self.height, self.width = int(self.height), int(self.width)

    @classmethod
    def from_fov(cls, fov_y_deg: float = 50.0, height: int = 480, width: int = 720, **extrinsics: Any) -> "Camera":
        """A camera with square pixels, principal point at the image centre and vertical FOV in degrees."""
        if not 0.0 < fov_y_deg < 180.0:
            raise SequenceError(f"camera: vertical field of view must be in (0, 180) degrees, got {fov_y_deg}")
        f = 0.5 * height / np.tan(np.deg2rad(fov_y_deg) / 2.0)
        K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
        return cls(K=K, height=height, width=width, **extrinsics)

    @classmethod
    def look_at(
        cls,
        eye: Any,
        target: Any,
        up: Any = (0.0, 0.0, 1.0),
        fov_y_deg: float = 50.0,
        height: int = 480,
        width: int = 720,
    ) -> "Camera":
        """A camera at ``eye`` looking at ``target``, with world ``up`` pointing up in the image."""
        eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
        forward = target - eye
        if np.linalg.norm(forward) < 1e-9:
            raise SequenceError("camera.look_at: eye and target coincide")
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        if np.linalg.norm(right) < 1e-9:
            raise SequenceError("camera.look_at: viewing direction is parallel to up")
        right /= np.linalg.norm(right)
        R = np.stack([right, np.cross(forward, right), forward])  # rows: x right, y down, z forward
        return cls.from_fov(fov_y_deg, height=height, width=width, R=R, t=-R @ eye)

    @property
    def is_moving(self) -> bool:
        return self.R.ndim == 3

    def extrinsics(self, frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(R (3, 3), t (3,)) of ``frame``."""
        if self.is_moving:
            return self.R[frame], self.t[frame]
        return self.R, self.t

    def world_to_camera(self, points: np.ndarray, frame: int = 0) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera-frame points."""
        R, t = self.extrinsics(frame)
        return np.asarray(points) @ R.T + t

    def project(self, points: np.ndarray, frame: int = 0) -> np.ndarray:
        """(..., 3) world points -> (..., 2) pixel coordinates (x right, y down)."""
        return project_points(self.world_to_camera(points, frame), self.K)


@dataclass
class HandTrack:
    """Per-frame MANO parameters of one hand.

    Attributes:
        global_orient: (T, 3) axis-angle of the wrist in the world frame.
        hand_pose: (T, 45) axis-angle of the 15 finger joints (no PCA).
        betas: (10,) shape coefficients, constant over the sequence.
        transl: (T, 3) translation in metres.
        side: "right" or "left".
        model: the hand model that interprets the parameters: "open" (pam.hand.OpenHand) or
            "mano" (pam.hand.ManoHand).
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10))
    side: str = "right"
    model: str = "open"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Coerce fields to float64 arrays and raise ``SequenceError`` on bad values."""
        if self.side not in HAND_SIDES:
            raise SequenceError(f"hand.side: expected one of {HAND_SIDES}, got {self.side!r}")
        self.global_orient = _as_array(f"{self.side} hand.global_orient", self.global_orient, (None, 3))
        self.hand_pose = _as_array(f"{self.side} hand.hand_pose", self.hand_pose, (None, 45))
        self.transl = _as_array(f"{self.side} hand.transl", self.transl, (None, 3))
        self.betas = _as_array(f"{self.side} hand.betas", self.betas, (10,))
        lengths = {len(self.global_orient), len(self.hand_pose), len(self.transl)}
        if len(lengths) != 1:
            raise SequenceError(
                f"{self.side} hand: frame counts differ (global_orient {len(self.global_orient)}, "
                f"hand_pose {len(self.hand_pose)}, transl {len(self.transl)})"
            )

    @property
    def num_frames(self) -> int:
        return len(self.transl)


@dataclass
class ObjectTrack:
    """Per-frame rigid pose of one object (object frame -> world frame).

    Attributes:
        mesh: a built-in object name (see ``pam.objects``) or a path to a mesh file.
        rotation: (T, 3, 3) object-to-world rotations.
        translation: (T, 3) object-to-world translations in metres.
        name: a label for the object (defaults to the mesh reference).
        scale: factor from mesh units to metres (0.001 for a mesh in millimetres).
        seg_id: index into the ADE20K segmentation palette (REFERENCE.md; YCB object k uses k).
    """

    mesh: str
    rotation: np.ndarray
    translation: np.ndarray
    name: str = ""
    scale: float = 1.0
    seg_id: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Coerce fields to float64 arrays and raise ``SequenceError`` on bad values."""
        if not self.mesh:
            raise SequenceError("object.mesh: empty mesh reference")
        self.name = self.name or Path(self.mesh).stem
        self.rotation = _as_array(f"object {self.name}.rotation", self.rotation, (None, 3, 3))
        self.translation = _as_array(f"object {self.name}.translation", self.translation, (None, 3))
        _check_rotations(f"object {self.name}.rotation", self.rotation)
        if len(self.rotation) != len(self.translation):
            raise SequenceError(
                f"object {self.name}: {len(self.rotation)} rotations but {len(self.translation)} translations"
            )
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise SequenceError(f"object {self.name}.scale: must be positive, got {self.scale}")
        if not 1 <= int(self.seg_id) <= 150:
            raise SequenceError(f"object {self.name}.seg_id: must be in 1..150, got {self.seg_id}")
        self.scale, self.seg_id = float(self.scale), int(self.seg_id)

    @property
    def num_frames(self) -> int:
        return len(self.translation)

    def transforms(self) -> np.ndarray:
        """(T, 4, 4) homogeneous object-to-world transforms."""
        T = np.tile(np.eye(4), (self.num_frames, 1, 1))
        T[:, :3, :3] = self.rotation
        T[:, :3, 3] = self.translation
        return T


_HAND_ARRAYS = ("global_orient", "hand_pose", "transl", "betas")
_OBJECT_ARRAYS = ("rotation", "translation")


@dataclass
class HOISequence:
    """Hands, objects and a camera over T frames at ``fps`` frames per second."""

    hands: list[HandTrack]
    objects: list[ObjectTrack]
    camera: Camera
    fps: float = 15.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``SequenceError`` unless every track is valid and all agree on the frame count."""
        for part in [self.camera, *self.hands, *self.objects]:
            part.validate()
        if not self.hands and not self.objects:
            raise SequenceError("sequence: needs at least one hand or object")
        if len(self.hands) > 2:
            raise SequenceError(f"sequence: at most two hands, got {len(self.hands)}")
        sides = [h.side for h in self.hands]
        if len(set(sides)) != len(sides):
            raise SequenceError(f"sequence: two hands with the same side {sides}")
        counts = {f"{h.side} hand": h.num_frames for h in self.hands}
        counts.update({f"object {i} ({o.name})": o.num_frames for i, o in enumerate(self.objects)})
        if self.camera.is_moving:
            counts["camera"] = len(self.camera.R)
        if len(set(counts.values())) != 1:
            raise SequenceError(f"sequence: frame counts differ: {counts}")
        if next(iter(counts.values())) < 1:
            raise SequenceError("sequence: has no frames")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise SequenceError(f"sequence.fps: must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return self.hands[0].num_frames if self.hands else self.objects[0].num_frames

    def hand(self, side: str) -> HandTrack:
        for h in self.hands:
            if h.side == side:
                return h
        raise KeyError(f"no {side} hand in this sequence (has {[h.side for h in self.hands]})")

    # --- persistence -------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        return {
            "format": "pam.HOISequence",
            "version": FORMAT_VERSION,
            "num_frames": self.num_frames,
            "fps": self.fps,
            "camera": {"height": self.camera.height, "width": self.camera.width},
            "hands": [{"side": h.side, "model": h.model} for h in self.hands],
            "objects": [
                {"name": o.name, "mesh": o.mesh, "scale": o.scale, "seg_id": o.seg_id} for o in self.objects
            ],
            "meta": self.meta,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"camera/K": self.camera.K, "camera/R": self.camera.R, "camera/t": self.camera.t}
        for i, h in enumerate(self.hands):
            arrays.update({f"hands/{i}/{k}": getattr(h, k) for k in _HAND_ARRAYS})
        for i, o in enumerate(self.objects):
            arrays.update({f"objects/{i}/{k}": getattr(o, k) for k in _OBJECT_ARRAYS})
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz) and its readable sidecar ``path.with_suffix('.json')``; returns the npz path."""
        path = Path(path)
        if path.suffix != ".npz":
            raise SequenceError(f"{path}: a sequence is saved as .npz")
        self.validate()
        meta = self._meta()
        arrays = self._arrays()
        readable = dict(meta, arrays={k: v.tolist() for k, v in arrays.items()})
        # both files are renamed into place only once both were written
        with atomic_path(path) as tmp, atomic_path(path.with_suffix(".json")) as tmp_json:
            np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
            tmp_json.write_text(json.dumps(readable, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "HOISequence":
        """Read a sequence written by ``save`` (only the .npz is needed)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such sequence file")
        try:
            arrays = load_arrays(path)
        except ValueError as exc:
            raise SequenceError(f"{path}: not a readable .npz sequence ({exc.__cause__})") from exc
        if "__meta__" not in arrays:
            raise SequenceError(f"{path}: not a pam sequence (no __meta__ entry)")
        meta = json.loads(str(arrays.pop("__meta__")))
        if meta.get("format") != "pam.HOISequence" or meta.get("version", 0) > FORMAT_VERSION:
            raise SequenceError(f"{path}: unsupported format {meta.get('format')} v{meta.get('version')}")
        try:
            camera = Camera(
                K=arrays["camera/K"], R=arrays["camera/R"], t=arrays["camera/t"], **meta["camera"]
            )
            hands = [
                HandTrack(**{k: arrays[f"hands/{i}/{k}"] for k in _HAND_ARRAYS}, **h)
                for i, h in enumerate(meta["hands"])
            ]
            objects = [
                ObjectTrack(**{k: arrays[f"objects/{i}/{k}"] for k in _OBJECT_ARRAYS}, **o)
                for i, o in enumerate(meta["objects"])
            ]
        except KeyError as exc:
            raise SequenceError(f"{path}: missing array {exc}") from exc
        return cls(hands=hands, objects=objects, camera=camera, fps=meta["fps"], meta=meta.get("meta", {}))
