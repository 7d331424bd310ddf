"""The numbers behind :class:`pam.hand.OpenHand`: skeleton, flesh, joint ranges and frame conventions.

Everything here is our own, written from public anthropometry and from MANO's *documented*
conventions; no MANO data array was used.

Frame conventions (MANO's, so that MANO poses from DexYCB / OakInk2 / HaMeR drive this hand alike)
--------------------------------------------------------------------------------------------------
* MANO's zero pose with ``flat_hand_mean=True`` is the SMPL-X T-pose hand (manotorch issue #1), and
  in the SMPL-X T-pose the right arm points along -x with the palm facing down (-y) and the body
  facing +z. So for the right hand at rest: fingers point along **-x**, the palm normal is **-y**,
  and the thumb (radial side) is towards **+z**. Finger flexion is then a positive rotation about
  +z, matching the published MANO flexion limits of HOnnotate (Hampali et al., CVPR 2020, suppl.:
  index MCP z in [0.1, 1.8] rad).
* Pose rotations are axis-angles of each joint relative to its parent, in the rest-pose frame.
* The left hand is the right hand mirrored through the plane x = 0: points (x, y, z) -> (-x, y, z),
  pose axis-angles (x, y, z) -> (x, -y, -z).
* MANO rotates the hand about its wrist joint, which sits at a fixed offset from the model origin
  (HaWoR issue #1: with zero translation MANO's wrist joint lands at a constant non-zero offset,
  not at the origin). Fitted ``transl`` values are relative to that origin, so we put our
  wrist at the same offset, :data:`WRIST_OFFSET` = (0.0957, 0.0064, 0.0062) m, the constant that
  public MANO tooling subtracts as the translation bias (e.g. D-Grasp's ``mano_to_dgrasp``
  conversion); x is negated for the left hand. It is a frame convention, not hand geometry.
* Kinematic order (16 joints): wrist, index 1-3, middle 1-3, little 1-3, ring 1-3, thumb 1-3.

Anthropometric sources
----------------------
* Hand length (wrist crease to middle fingertip) of adults: about 19.4 cm for men and 17.8 cm for
  women, hand breadth at the metacarpals about 9.0 cm and 7.9 cm (US Army ANSUR II, Gordon et al.
  2014). Our default hand: wrist joint to middle fingertip 18.3 cm, breadth across the knuckles
  8.2 cm, palm thickness at the knuckles 2.9 cm, volume 0.29 l (without forearm) -- between the two means.
* Phalanx length proportions: proximal : middle : distal about 1 : 0.6 : 0.45 for the long fingers,
  middle > ring > index > little (Hamilton & Dunsmuir, J Hand Surg Br 27:546, 2002; Buryanov &
  Kotiuk, Int J Morphol 28:755, 2010). Visible finger lengths (base crease to tip) of young adults:
  thumb 49.5, index 63.9, middle 70.7, ring 65.5, little 53.3 mm (Chatzioglou et al., Anat Cell
  Biol 57:172, 2024). Our MCP-joint-centre-to-tip lengths (index 86, middle 97, ring 92, little 74,
  thumb MCP-to-tip 59 mm) add the roughly 10-25 mm between the joint centre and the base crease.
* Metacarpal lengths about 68 (II), 65 (III), 58 (IV), 54 (V) and 46 (I) mm, with the carpus adding
  about 15-20 mm between the wrist joint and the metacarpal bases (standard anatomy texts).
* Finger breadths at the PIP joint about 18-21 mm and at the DIP joint 16-18 mm, the thumb about
  2 mm wider (typical adult values, e.g. Vergara, Agost & Gracia-Ibanez, "Dorsal and palmar aspect
  dimensions of hand anthropometry", 2018); the flesh radii below are half of these.
* Joint ranges of motion (flexion, degrees): MCP 0-90, PIP 0-110, DIP 0-80, thumb MCP 0-60, thumb
  IP 0-80, small hyperextension at MCP (-20) (American Academy of Orthopaedic Surgeons, "Joint
  Motion: Method of Measuring and Recording", 1965; Hume et al., J Hand Surg Am 15:240, 1990).

All lengths below are millimetres in hand coordinates (distal, radial, palmar) relative to the
wrist joint; :func:`to_model_frame` maps them to MANO's right-hand model frame in metres.
"""

from __future__ import annotations

import numpy as np

#: MANO's kinematic parents (16 joints: wrist, index, middle, little, ring, thumb; 3 joints each).
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14], dtype=np.int64)
#: First kinematic joint of each finger, in the 21-keypoint order (thumb, index, middle, ring, little).
FINGER_ROOTS = {"thumb": 13, "index": 1, "middle": 4, "ring": 10, "little": 7}
#: 21-keypoint (MANO/DexYCB) order as indices into the 16 kinematic joints followed by 5 fingertips
#: (16 thumb, 17 index, 18 middle, 19 ring, 20 little).
KEYPOINT_ORDER = [0] + [i for root, tip in zip(FINGER_ROOTS.values(), range(16, 21)) for i in (root, root + 1, root + 2, tip)]
#: Kinematic joint each fingertip keypoint (16..20) rides on.
TIP_PARENTS = [FINGER_ROOTS[f] + 2 for f in FINGER_ROOTS]

#: Right-hand wrist joint position in MANO's model frame (metres), see the module docstring.
WRIST_OFFSET = np.array([0.0957, 0.0064, 0.0062])

#: Per long finger: MCP joint centre (distal, radial, palmar), spread angle in the palm plane
#: (degrees, + radial), joint-centre segment lengths MCP-PIP, PIP-DIP, DIP-tip, and flesh radii at
#: MCP, PIP, DIP and tip.
LONG_FINGERS = {
    "index": dict(mcp=(82.0, 27.0, 1.0), spread=8.0, lengths=(40.0, 24.0, 22.0), radii=(10.6, 9.9, 8.8, 7.7)),
    "middle": dict(mcp=(86.0, 7.0, 0.0), spread=0.0, lengths=(45.0, 28.0, 24.0), radii=(10.8, 10.1, 9.0, 7.8)),
    "ring": dict(mcp=(81.0, -11.0, 1.0), spread=-8.0, lengths=(42.0, 27.0, 23.0), radii=(10.2, 9.6, 8.5, 7.4)),
    "little": dict(mcp=(72.0, -28.5, 3.0), spread=-16.0, lengths=(33.0, 20.0, 21.0), radii=(9.3, 8.6, 7.6, 6.8)),
}
#: Thumb: carpometacarpal joint centre, metacarpal and phalanx directions (spread from the
#: distal axis towards radial, and pitch towards palmar, degrees), lengths CMC-MCP, MCP-IP, IP-tip,
#: flesh radii at CMC (the thenar eminence), MCP, IP and tip.
THUMB = dict(
    cmc=(20.0, 20.0, 7.0),
    metacarpal_dir=(48.0, 18.0),
    phalanx_dir=(38.0, 5.0),
    lengths=(44.0, 32.0, 27.0),
    radii=(13.5, 11.5, 10.5, 9.0),
)
#: Palm: metacarpal bases (the carpus side) and their flesh radii at base and knuckle; the carpal
#: block across the wrist; the forearm stub that closes the surface behind the wrist.
METACARPAL_BASES = {
    "index": (18.0, 12.0, 1.0),
    "middle": (16.0, 3.0, 0.0),
    "ring": (16.0, -7.0, 1.0),
    "little": (16.0, -15.0, 2.0),
}
METACARPAL_RADII = (12.5, 14.0)
CARPUS = dict(ends=((8.0, -17.0, 1.0), (8.0, 15.0, 1.0)), radius=15.5)
FOREARM = dict(ends=((-12.0, 0.0, 1.0), (4.0, 0.0, 1.0)), offsets=(-9.0, 9.0), radius=15.0)
#: Flexion ranges (degrees) per finger joint (1 = MCP/CMC, 2 = PIP/MCP, 3 = DIP/IP), see sources.
FLEXION_RANGE_DEG = {
    "thumb": ((-10.0, 50.0), (-10.0, 60.0), (-15.0, 80.0)),
    "index": ((-20.0, 90.0), (0.0, 110.0), (-5.0, 80.0)),
    "middle": ((-20.0, 90.0), (0.0, 110.0), (-5.0, 80.0)),
    "ring": ((-20.0, 90.0), (0.0, 110.0), (-5.0, 80.0)),
    "little": ((-20.0, 90.0), (0.0, 110.0), (-5.0, 80.0)),
}


def _direction(spread_deg: float, pitch_deg: float) -> np.ndarray:
    """Unit vector in hand coordinates from a spread (towards radial) and pitch (towards palmar) angle."""
    s, p = np.radians(spread_deg), np.radians(pitch_deg)
    return np.array([np.cos(p) * np.cos(s), np.cos(p) * np.sin(s), np.sin(p)])


def finger_chains() -> dict[str, np.ndarray]:
    """Joint centres of each finger, (4, 3) each: root joint, two middle joints, fingertip (hand coordinates, mm)."""
    chains = {}
    thumb_cmc = np.array(THUMB["cmc"])
    thumb_mcp = thumb_cmc + THUMB["lengths"][0] * _direction(*THUMB["metacarpal_dir"])
    phalanx = _direction(*THUMB["phalanx_dir"])
    thumb_ip = thumb_mcp + THUMB["lengths"][1] * phalanx
    chains["thumb"] = np.stack([thumb_cmc, thumb_mcp, thumb_ip, thumb_ip + THUMB["lengths"][2] * phalanx])
    for name, spec in LONG_FINGERS.items():
        direction = _direction(spec["spread"], 0.0)
        steps = np.concatenate([[0.0], np.cumsum(spec["lengths"])])
        chains[name] = np.asarray(spec["mcp"]) + steps[:, None] * direction
    return chains


def to_model_frame(points_mm: np.ndarray) -> np.ndarray:
    """Hand coordinates (distal, radial, palmar) in mm -> MANO right-hand model frame in metres."""
    points = np.asarray(points_mm, dtype=np.float64) / 1000.0
    return WRIST_OFFSET + np.stack([-points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def rest_keypoints_mm() -> np.ndarray:
    """(21, 3) rest keypoints: 16 kinematic joints in MANO order, then the 5 fingertips (thumb..little)."""
    chains = finger_chains()
    joints = np.zeros((21, 3))
    for tip, (name, root) in enumerate(FINGER_ROOTS.items(), start=16):
        joints[root : root + 3] = chains[name][:3]
        joints[tip] = chains[name][3]
    return joints


def mirror_pose(axis_angle):
    """Right <-> left pose mirror of (..., 3k) axis-angles, NumPy or torch: (x, y, z) -> (x, -y, -z)."""
    sign = np.tile([1.0, -1.0, -1.0], axis_angle.shape[-1] // 3)
    if hasattr(axis_angle, "new_tensor"):  # torch
        return axis_angle * axis_angle.new_tensor(sign)
    return np.asarray(axis_angle) * sign


def flexion_axes() -> np.ndarray:
    """(15, 3) unit flexion axes of the right hand's finger joints (MANO order), model frame.

    A positive rotation about a long finger's axis bends it towards the palm (-y); the thumb's bend
    it towards a point 4 cm in front of the palm below the middle knuckle, i.e. into opposition with
    the curling fingers.
    """
    keypoints = to_model_frame(rest_keypoints_mm())
    opposition = to_model_frame(np.array([70.0, 10.0, 40.0]))
    axes = np.zeros((15, 3))
    for tip, (name, root) in enumerate(FINGER_ROOTS.items(), start=16):
        chain = [root, root + 1, root + 2, tip]
        for k in range(3):
            bone = keypoints[chain[k + 1]] - keypoints[chain[k]]
            towards = opposition - keypoints[chain[k]] if name == "thumb" else np.array([0.0, -1.0, 0.0])
            axis = np.cross(bone, towards)
            axes[root - 1 + k] = axis / np.linalg.norm(axis)
    return axes


def curl_pose(closure, side: str = "right") -> np.ndarray:
    """A grasp-like ``hand_pose`` (..., 45): each finger flexed by ``closure`` (..., 5) x its maximum flexion.

    ``closure`` (..., 5) per finger in the keypoint order thumb, index, middle, ring, little, or a
    scalar for all; 0 is the flat hand, 1 full flexion within :data:`FLEXION_RANGE_DEG`.
    """
    closure = np.asarray(closure, dtype=np.float64)
    if closure.ndim == 0:
        closure = np.full(5, float(closure))
    axes = flexion_axes()
    pose = np.zeros(closure.shape[:-1] + (15, 3))
    for f, (name, root) in enumerate(FINGER_ROOTS.items()):
        for k in range(3):
            angle = np.radians(FLEXION_RANGE_DEG[name][k][1]) * closure[..., f]
            pose[..., root - 1 + k, :] = angle[..., None] * axes[root - 1 + k]
    pose = pose.reshape(closure.shape[:-1] + (45,))
    return mirror_pose(pose) if side == "left" else pose
