"""Hand joint estimators run on video frames, behind one interface, for MPJPE on generated videos.

An estimator maps uint8 frames (T, H, W, 3) RGB, one hand box per frame (T, 4) xyxy pixels and
the hand side to joints (T, 21, 3) in metres, MANO/DexYCB order (wrist first); only positions
relative to the wrist are meaningful (MPJPE is computed after root alignment). A 2D estimator
(``estimate_2d``, for ``pam filter --scorer keypoints``) also takes the image's intrinsics K (3, 3) and
returns the joints in pixels (T, 21, 2).

2D convention: HaMeR predicts, per crop, 3D joints (MANO's frame, no translation) and a weak-perspective
crop camera (s, tx, ty) (its ``pred_cam``; the crop is the square ``box_size`` pixels around
``box_center``, seen by HaMeR through focal 5000 px per 256 px of crop, i.e. almost orthographically).
:func:`crop_camera_to_full` turns it into a translation in the image's own camera, as HaMeR's demo does
(``cam_crop_to_full``) but with the clip's K in place of HaMeR's guessed camera (focal 5000 / 256 x
max(H, W), principal point at the image centre): depth tz = 2 fx / (box_size s), and (tx, ty) added to the
box centre's ray at that depth. :func:`pam.sequence.project_points` then puts the joints through K. For a hand parallel to the
image plane this lands exactly where HaMeR's crop keypoints (``pred_keypoints_2d``, mapped back through
the box) put it, whatever K is; for a hand with depth it adds the perspective of the camera that rendered
the clip (and its annotated joints). K is assumed to have square pixels (fx = fy, as pam's cameras).

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
from pam.sequence import project_points

HAMER_FILE = WeightFile(
    "hamer/checkpoints/hamer.ckpt",
    "HaMeR's release (github.com/geopavlakos/hamer, fetch_demo_data.sh: _DATA/hamer_ckpts/checkpoints/hamer.ckpt, "
    "with model_config.yaml beside its checkpoints folder)",
)


class HandJointEstimator(Protocol):
    def estimate(self, frames: np.ndarray, boxes: np.ndarray, side: str) -> np.ndarray:
        """frames (T, H, W, 3) uint8 RGB, boxes (T, 4) xyxy, side 'right'/'left' -> joints (T, 21, 3) metres."""


class HandKeypointEstimator(Protocol):
    def estimate_2d(self, frames: np.ndarray, boxes: np.ndarray, side: str, K: np.ndarray) -> np.ndarray:
        """frames (T, H, W, 3) uint8 RGB, boxes (T, 4) xyxy, side, intrinsics K (3, 3) -> joints (T, 21, 2) pixels."""


def crop_camera_to_full(cam_crop: np.ndarray, box_center: np.ndarray, box_size: np.ndarray,
                        K: np.ndarray) -> np.ndarray:
    """HaMeR's crop camera -> translation in the camera of intrinsics K (module docstring).

    cam_crop (..., 3) (s, tx, ty); box_center (..., 2) pixels; box_size (...) pixels; -> (..., 3) metres,
    to be added to the predicted joints (in the unflipped hand's frame).
    """
    cam_crop = np.asarray(cam_crop, np.float64)
    tz = 2.0 * K[0, 0] / (np.asarray(box_size, np.float64) * cam_crop[..., 0])
    ray = (np.asarray(box_center, np.float64) - K[:2, 2]) / np.diag(K)[:2]
    return np.concatenate([cam_crop[..., 1:] + tz[..., None] * ray, tz[..., None]], axis=-1)


def boxes_from_keypoints(keypoints_2d: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Hand boxes (T, 4) xyxy around 2D keypoints (T, J, 2), each side grown by ``margin`` of its size."""
    lo, hi = keypoints_2d.min(axis=1), keypoints_2d.max(axis=1)
    pad = (hi - lo) * margin
    return np.concatenate([lo - pad, hi + pad], axis=1)


class HaMeREstimator:
    """HaMeR from a local checkpoint (``$PAM_HOME/hamer/checkpoints/hamer.ckpt`` or an explicit path).

    Not exercised by the test suite (no checkpoint here): it follows HaMeR's demo, one
    ``ViTDetDataset`` crop per frame (BGR image, box, right flag), ``pred_keypoints_3d`` and, for
    ``estimate_2d``, ``pred_cam`` with the crop's ``box_center`` / ``box_size``. Left hands are predicted
    as mirrored right hands; the joints' x and the camera's tx are mirrored back, as in HaMeR's demo.
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
    def _predict(self, frames: np.ndarray, boxes: np.ndarray, side: str):
        """Per frame: joints (21, 3) in the unflipped hand's frame, crop camera (3,), box centre (2,), box size."""
        sign = 1.0 if side == "right" else -1.0
        for frame, box in zip(frames, boxes):
            item = self.dataset_cls(self.cfg, np.ascontiguousarray(frame[..., ::-1]), box[None].astype(np.float32),
                                    np.array([float(side == "right")]))[0]  # HaMeR's crops expect BGR images
            batch = {k: torch.as_tensor(v)[None].to(self.device) for k, v in item.items()}
            out = self.model(batch)
            kp = out["pred_keypoints_3d"][0].double().cpu().numpy()
            cam = out["pred_cam"][0].double().cpu().numpy()
            kp[:, 0] *= sign  # HaMeR predicts left hands as mirrored right hands
            cam[1] *= sign
            yield kp, cam, np.asarray(item["box_center"], np.float64), float(item["box_size"])

    def estimate(self, frames: np.ndarray, boxes: np.ndarray, side: str) -> np.ndarray:
        return np.stack([kp for kp, *_ in self._predict(frames, boxes, side)])

    def estimate_2d(self, frames: np.ndarray, boxes: np.ndarray, side: str, K: np.ndarray) -> np.ndarray:
        return np.stack([project_points(kp + crop_camera_to_full(cam, center, size, K), K)
                         for kp, cam, center, size in self._predict(frames, boxes, side)])
