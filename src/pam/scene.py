"""Posed geometry of a sequence: per-frame world-space meshes of its hands and objects, and hand joints.

Instance ids follow DESIGN.md: 0 background, 1.. hands (in ``seq.hands`` order), then objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pam.sequence import HOISequence


@dataclass
class SceneMesh:
    """One rigid or skinned body over T frames.

    Attributes:
        name: "right_hand", "left_hand" or the object's name.
        kind: "hand" or "object".
        instance_id: 1-based id in the rendered instance image.
        seg_id: ADE20K palette index (0 for hands; the encoder gives hands their own colour).
        vertices: (T, V, 3) world coordinates in metres.
        faces: (F, 3) int64 triangles.
    """

    name: str
    kind: str
    instance_id: int
    seg_id: int
    vertices: np.ndarray
    faces: np.ndarray


@dataclass
class SceneGeometry:
    meshes: list[SceneMesh]
    #: (T, H, 21, 3) world-space hand joints, H = number of hands, MANO/DexYCB order.
    joints: np.ndarray


def pose_hands(seq: HOISequence, mano_dir: str | None = None) -> tuple[list[SceneMesh], np.ndarray]:
    """Run each hand's model over all frames: meshes plus (T, H, 21, 3) joints."""
    from pam.hand import load_hand_model

    meshes, joints = [], []
    for i, hand in enumerate(seq.hands):
        model = load_hand_model(hand.model, side=hand.side, mano_dir=mano_dir).to(torch.float64)
        with torch.no_grad():
            out = model(
                torch.from_numpy(hand.global_orient),
                torch.from_numpy(hand.hand_pose),
                torch.from_numpy(hand.betas),
                torch.from_numpy(hand.transl),
            )
        meshes.append(
            SceneMesh(f"{hand.side}_hand", "hand", i + 1, 0, out.vertices.numpy(), np.asarray(model.faces, np.int64))
        )
        joints.append(out.joints.numpy())
    stacked = np.stack(joints, axis=1) if joints else np.zeros((seq.num_frames, 0, 21, 3))
    return meshes, stacked


def pose_objects(seq: HOISequence, first_id: int) -> list[SceneMesh]:
    """Object meshes moved by their per-frame poses."""
    from pam.objects import load_object

    meshes = []
    for k, obj in enumerate(seq.objects):
        mesh = load_object(obj.mesh, scale=obj.scale)
        verts = np.einsum("tij,vj->tvi", obj.rotation, mesh.vertices) + obj.translation[:, None, :]
        meshes.append(SceneMesh(obj.name, "object", first_id + k, obj.seg_id, verts, np.asarray(mesh.faces, np.int64)))
    return meshes


def build_scene(seq: HOISequence, mano_dir: str | None = None) -> SceneGeometry:
    """All posed meshes of ``seq`` with instance ids, plus the hand joints."""
    hand_meshes, joints = pose_hands(seq, mano_dir)
    meshes = hand_meshes + pose_objects(seq, first_id=len(hand_meshes) + 1)
    return SceneGeometry(meshes=meshes, joints=joints)
