"""OpenHand: our own redistributable, MANO-compatible hand model.

Same kinematic tree, pose parameters and 21 keypoints as MANO (16 joints: wrist + 3 per finger in
MANO's order index, middle, little, ring, thumb; axis-angles relative to the parent in the rest
frame; ``global_orient`` rotates about the wrist; ``transl`` is added last), the same rest-frame
conventions (right hand: fingers along -x, palm facing -y, thumb towards +z; the left hand is its
mirror x -> -x with pose axis-angles (x, y, z) -> (x, -y, -z)). A pose of zeros is a flat open hand,
i.e. ``hand_pose`` means what MANO's does with ``flat_hand_mean=True``.

The surface (about 1k vertices, watertight) and its skinning weights are built from our own
anthropometric numbers by :mod:`pam.hand.open_hand_build` and shipped as a small asset; the numbers,
their published sources and the frame conventions are documented in :mod:`pam.hand.anatomy`.

Shape parameters (``betas``, 10 values for MANO compatibility):

* ``betas[0]``: overall size. The hand is scaled about the wrist by ``exp(0.05 * betas[0])``, so one
  unit is about one standard deviation of adult hand length (~5 %, ANSUR II). The default (0) hand
  measures 18.3 cm from the wrist joint to the middle fingertip.
* ``betas[1:]``: unused, accepted and ignored (MANO's shape space has no public meaning to follow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pam.hand import anatomy, lbs
from pam.hand.base import HandModel, HandOutput
from pam.hand.inputs import hand_inputs

#: Size change per unit of ``betas[0]`` (log scale), about one SD of adult hand length.
SIZE_STEP = 0.05


def _load_asset(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


class OpenHand(HandModel):
    """A MANO-compatible hand with our own geometry; see the module docstring.

    Args:
        side: ``"right"`` or ``"left"``.
        asset: the asset built by :mod:`pam.hand.open_hand_build` (default: the packaged one).
    """

    def __init__(self, side: str = "right", asset: str | Path | None = None) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        from pam.hand.open_hand_build import ASSET_PATH

        data = _load_asset(Path(asset) if asset is not None else ASSET_PATH)
        vertices, joints, tips, faces = data["vertices"], data["joints"], data["tips"], data["faces"]
        if side == "left":
            mirror = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
            vertices, joints, tips, faces = vertices * mirror, joints * mirror, tips * mirror, faces[:, ::-1]
        self.side = side
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.register_buffer("v_template", torch.as_tensor(vertices, dtype=torch.float32))
        self.register_buffer("j_template", torch.as_tensor(joints, dtype=torch.float32))
        self.register_buffer("tip_template", torch.as_tensor(tips, dtype=torch.float32))
        self.register_buffer("weights", torch.as_tensor(data["weights"], dtype=torch.float32))
        self.register_buffer("parents", torch.as_tensor(anatomy.PARENTS))
        self.tip_parents = list(anatomy.TIP_PARENTS)
        self.keypoint_order = list(anatomy.KEYPOINT_ORDER)

    def forward(
        self,
        global_orient: torch.Tensor,
        hand_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> HandOutput:
        """global_orient (B, 3), hand_pose (B, 45), betas (B, 10) | (10,) | None, transl (B, 3) | None -> HandOutput."""
        global_orient, hand_pose, betas, transl = hand_inputs(self.v_template, global_orient, hand_pose, betas, transl)
        wrist = self.j_template[0]
        scale = torch.exp(SIZE_STEP * betas[:, :1])[:, :, None]  # (B, 1, 1)
        vertices = wrist + scale * (self.v_template - wrist)
        joints = wrist + scale * (self.j_template - wrist)
        tips = wrist + scale * (self.tip_template - wrist)
        rot_mats = lbs.pose_rotations(global_orient, hand_pose)
        posed_joints, transforms = lbs.batch_rigid_transform(rot_mats, joints, self.parents)
        posed_vertices = lbs.skin(vertices, self.weights, transforms)
        tip_tf = transforms[:, self.tip_parents]  # (B, 5, 4, 4)
        posed_tips = (tip_tf[..., :3, :3] @ tips[..., None])[..., 0] + tip_tf[..., :3, 3]
        keypoints = torch.cat([posed_joints, posed_tips], dim=1)[:, self.keypoint_order]
        offset = transl[:, None]
        return HandOutput(vertices=posed_vertices + offset, joints=keypoints + offset)
