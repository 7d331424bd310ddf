"""3D hand joint estimators run on video frames, behind one interface, for MPJPE on generated videos.

An estimator maps uint8 frames (T, H, W, 3) RGB, one hand box per frame (T, 4) xyxy pixels and
the hand side to joints (T, 21, 3) in metres, MANO/DexYCB order (wrist first); only positions
relative to the wrist are meaningful (MPJPE is computed after root alignment).

- :class:`HaMeREstimator`: HaMeR (Pavlakos et al. 2024), the paper's estimator, from a local
  checkpoint; needs the ``hamer`` package (github.com/geopavlakos/hamer) and its MANO files.
  Its 21 keypoints are in OpenPose hand order, which is the MANO/DexYCB order used here.

No offline default estimator ships (decision): the one candidate that runs offline, mediapipe
0.10.21 (the last release bundling its hand landmark models), pins numpy < 2: pip resolves it
here by downgrading numpy 2.4 to 1.26 and adding opencv-contrib-python 4.11 (a second cv2
beside opencv-python-headless 5), jax and protobuf 4; newer mediapipe releases ship no models. A different
estimator would also not compare with the paper's MPJPE, which is measured with HaMeR.
Boxes come from the caller: for evaluation, around the ground-truth hand.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import torch

from pam.metrics.weights import WeightFile, find_weight

HAMER_FILE = WeightFile(
    "hamer/checkpoints/hamer.ckpt",
    "HaMeR's release (github.com/geopavlakos/hamer, fetch_demo_data.sh: _DATA/hamer_ckpts/checkpoints/hamer.ckpt, "
    "with model_config.yaml beside its checkpoints folder)",
)


class HandJointEstimator(Protocol):
    def estimate(self, frames: np.ndarray, boxes: np.ndarray, side: str) -> np.ndarray:
        """frames (T, H, W, 3) uint8 RGB, boxes (T, 4) xyxy, side 'right'/'left' -> joints (T, 21, 3) metres."""


def boxes_from_keypoints(keypoints_2d: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Hand boxes (T, 4) xyxy around 2D keypoints (T, J, 2), each side grown by ``margin`` of its size."""
    lo, hi = keypoints_2d.min(axis=1), keypoints_2d.max(axis=1)
    pad = (hi - lo) * margin
    return np.concatenate([lo - pad, hi + pad], axis=1)


class HaMeREstimator:
    """HaMeR from a local checkpoint (``$PAM_HOME/hamer/checkpoints/hamer.ckpt`` or an explicit path).

    Not exercised by the test suite (no checkpoint here): it follows HaMeR's demo, one
    ``ViTDetDataset`` crop per frame (BGR image, box, right flag) and ``pred_keypoints_3d``.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, device: str = "cpu"):
        path = find_weight("MPJPE (HaMeR hand estimator)", HAMER_FILE, checkpoint)
        try:
            from hamer.datasets.vitdet_dataset import ViTDetDataset
            from hamer.models import load_hamer
        except ImportError as exc:
            raise ImportError("HaMeR needs the 'hamer' package: see github.com/geopavlakos/hamer") from exc
        self.model, self.cfg = load_hamer(str(path))
        self.model = self.model.to(device).eval()
        self.dataset_cls = ViTDetDataset
        self.device = device

    @torch.no_grad()
    def estimate(self, frames: np.ndarray, boxes: np.ndarray, side: str) -> np.ndarray:
        right = 1.0 if side == "right" else 0.0
        joints = []
        for frame, box in zip(frames, boxes):
            item = self.dataset_cls(self.cfg, np.ascontiguousarray(frame[..., ::-1]), box[None].astype(np.float32),
                                    np.array([right]))[0]  # HaMeR's crops expect BGR images
            batch = {k: torch.as_tensor(v)[None].to(self.device) for k, v in item.items()}
            kp = self.model(batch)["pred_keypoints_3d"][0].double().cpu().numpy()
            if side != "right":
                kp[:, 0] *= -1  # HaMeR predicts left hands as mirrored right hands
            joints.append(kp)
        return np.stack(joints)
