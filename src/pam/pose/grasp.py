"""Grasp synthesis: wrist poses around the object, fingers closed until they touch it.

For each of ``num_candidates`` random candidates (NumPy ``Generator``: a seed fixes them):
1. an approach direction ``a`` (object -> hand, not from below the table), a roll of the hand
   about it, and an aim point on the object's long axis give a wrist rotation whose palm faces
   the object;
2. the pre-shaped hand slides in along ``-a`` until its first contact, found exactly by ray
   casting (hand vertices against the object, object vertices against the hand, and the table
   plane), and stops ``clearance`` short of it;
3. each finger closes from the pre-shape along the grasp style (``style - preshape``, the target
   hand's articulation) until its capsules touch the object (libigl signed distance), or the
   table, or it reaches ``max_closure``. The contact pose is what the output shows; the
   ``squeeze`` pose, a few millimetres further in, is the simulator's position target that makes
   the grip force.
Candidates are ranked by contacts (thumb required, palm counts), by how squarely another contact
opposes the thumb, by how well the contact normals balance, and by how far the wrist must turn from the preferred orientations (h0, hT). The best
few are refined on the hand's surface: a finger whose skin sinks more than ``max_penetration``
into the object is opened back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from pam.pose.hand_geometry import FINGER_BONES, PALM_BONES, PALM_WEB, RADIUS_PERCENTILE, TIPS, HandCapsules, PosedHand, finger_pose, segment_distance
from pam.pose.sdf import ObjectSDF
from pam.rotations import matrix_to_axis_angle_np

DEFAULTS = dict(
    num_candidates=256,
    num_keep=10,
    aim_range=0.8,  # aim points along the object's long axis, as a fraction of its half length
    closure_samples=14,
    max_closure=1.6,  # fingers may close this far along the style direction (1 = the style pose)
    clearance=0.002,  # m between hand and object when the wrist stops
    squeeze=0.007,  # m the simulator's finger targets go past first contact
    max_penetration=0.0015,  # m of skin inside the object allowed in the contact pose
    palm_contact=0.006,  # m: the palm counts as touching within this distance
    max_balance=0.55,  # |sum of unit contact normals| / count must stay below this
    min_opposition=0.5,  # some contact's normal must face the thumb's within 60 degrees
    radius_percentile=RADIUS_PERCENTILE,  # of the finger capsules (``HandCapsules.from_model``)
)


@dataclass
class Grasp:
    """A hand pose holding the object (world frame, object at its initial pose).

    Attributes:
        rotation: (3, 3) wrist rotation.
        transl: (3,) MANO translation.
        hand_pose: (45,) contact pose (fingers on the surface).
        squeeze_pose: (45,) the simulator's finger targets, slightly inside the object.
        preshape: (45,) the open pose the hand approaches with.
        approach: (3,) unit direction from the object towards the approaching hand.
        finger_contact: (5,) which fingers (thumb .. little) touch the object; palm_contact: bool.
        balance: |sum of unit contact normals| / number of contacts (0 = perfectly opposed).
        score: ranking score (higher is better).
    """

    rotation: np.ndarray
    transl: np.ndarray
    hand_pose: np.ndarray
    squeeze_pose: np.ndarray
    preshape: np.ndarray
    approach: np.ndarray
    finger_contact: np.ndarray
    palm_contact: bool
    balance: float
    score: float

    @property
    def num_contacts(self) -> int:
        return int(self.finger_contact.sum()) + int(self.palm_contact)


def _capsule_points(joints: np.ndarray, radius: np.ndarray, per_bone: int = 4) -> np.ndarray:
    """Points on the finger bones' capsule axes: joints (K, 21, 3) -> (K, 15 * per_bone, 3)."""
    a = joints[:, [p for p, _ in FINGER_BONES]]
    b = joints[:, [c for _, c in FINGER_BONES]]
    tip = np.array([c in TIPS for _, c in FINGER_BONES])
    d = (b - a) / np.linalg.norm(b - a, axis=-1, keepdims=True)
    b = np.where(tip[None, :, None], b - d * radius[None, :, None], b)
    t = np.linspace(0.0, 1.0, per_bone)
    return (a[:, :, None] + t[None, None, :, None] * (b - a)[:, :, None]).reshape(len(joints), -1, 3)


def _ray_distances(mesh: trimesh.Trimesh, origins: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Distance along ``direction`` (N, 3) from each origin (N, 3) to ``mesh`` (inf where missed)."""
    dist = np.full(len(origins), np.inf)
    locations, index, _ = mesh.ray.intersects_location(origins, direction, multiple_hits=False)
    if len(index):
        np.minimum.at(dist, index, np.linalg.norm(locations - origins[index], axis=1))
    return dist


def _sample_approaches(
    mesh: trimesh.Trimesh, n: int, on_table: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Approach directions (n, 3) and rolls (n,): half uniformly random, half along the object's
    box axes with the fingers along another box axis (the grasps people use on boxes and
    cylinders), jittered by ~10 degrees. On a table, directions from below are left out."""
    box_axes = mesh.bounding_box_oriented.primitive.transform[:3, :3].T  # rows
    m = 8 * n
    free = rng.normal(size=(m, 3))
    pick = rng.integers(0, 3, size=(m, 2))
    pick[:, 1] = (pick[:, 0] + 1 + rng.integers(0, 2, size=m)) % 3
    signs = rng.choice([-1.0, 1.0], size=(m, 2))
    aligned = signs[:, :1] * box_axes[pick[:, 0]] + rng.normal(scale=0.18, size=(m, 3))
    use_aligned = np.arange(m) % 2 == 1
    a = np.where(use_aligned[:, None], aligned, free)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    u = np.cross(a, np.where(np.abs(a[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    finger = signs[:, 1:] * box_axes[pick[:, 1]]
    roll = np.where(
        use_aligned,
        np.arctan2(np.einsum("nk,nk->n", finger, np.cross(a, u)), np.einsum("nk,nk->n", finger, u))
        + rng.normal(scale=0.18, size=m),
        rng.uniform(0.0, 2.0 * np.pi, m),
    )
    keep = a[:, 2] > -0.25 if on_table else np.ones(m, dtype=bool)
    return a[keep][:n], roll[keep][:n]


def _rotations(approach: np.ndarray, roll: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Wrist rotations (N, 3, 3) turning the palm normal to -approach, fingers rolled by ``roll``."""
    helper = np.where(np.abs(approach[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(approach, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(approach, u)
    finger = np.cos(roll)[:, None] * u + np.sin(roll)[:, None] * v
    palm = -approach
    basis = np.stack([finger, np.cross(palm, finger), palm], axis=-1)  # columns
    return basis @ axes  # axes rows: canonical finger, palm x finger, palm


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) between rotations a (..., 3, 3) and b (3, 3)."""
    cos = (np.einsum("...ij,ij->...", a, b) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _crossing(g: np.ndarray, c: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """First closure where g (..., K) falls to ``level``, linearly interpolated; (closure, found)."""
    below = g <= level
    found = below.any(axis=-1)
    k = np.where(found, below.argmax(axis=-1), len(c) - 1)
    k0 = np.maximum(k - 1, 0)
    g0 = np.take_along_axis(g, k0[..., None], -1)[..., 0]
    g1 = np.take_along_axis(g, k[..., None], -1)[..., 0]
    frac = np.where(k > 0, np.clip((g0 - level) / np.maximum(g0 - g1, 1e-12), 0.0, 1.0), 0.0)
    return c[k0] + frac * (c[k] - c[k0]), found


def _object_axis(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre, longest principal direction and half length along it of the mesh."""
    verts = np.asarray(mesh.vertices)
    centre = (verts.min(axis=0) + verts.max(axis=0)) / 2.0
    _, _, vt = np.linalg.svd(verts - verts.mean(axis=0), full_matrices=False)
    proj = (verts - centre) @ vt[0]
    return centre, vt[0], float(proj.max() - proj.min()) / 2.0


def synthesize_grasps(
    hand: PosedHand,
    mesh: trimesh.Trimesh,
    table_height: float | None,
    preshape: np.ndarray,
    style: np.ndarray,
    rng: np.random.Generator,
    preferred: tuple[np.ndarray, ...] = (),
    **overrides,
) -> list[Grasp]:
    """Ranked grasps of ``mesh`` (world frame, watertight or closed) by ``hand``; best first.

    Args:
        hand: the posed hand model (shape fixed).
        mesh: the object at its initial pose, in the world.
        table_height: z of the table top, or None.
        preshape, style: (45,) the approach pose and the grasp style pose.
        rng: candidate sampler.
        preferred: wrist rotations (3, 3) the grasp should stay close to (h0's, hT's).
        overrides: entries of ``DEFAULTS``.

    Returns:
        Up to ``num_keep`` grasps that pass the contact and balance checks (may be empty).
    """
    cfg = dict(DEFAULTS, **overrides)
    n = cfg["num_candidates"]
    sdf = ObjectSDF(mesh)
    capsules = HandCapsules.from_model(hand.model, hand.betas, percentile=cfg["radius_percentile"])
    finger_radius = capsules.radius[capsules.segment > 0]  # FINGER_BONES order
    axes = hand.canonical_axes(style)
    direction = style - preshape

    # --- candidates: approach direction, roll, aim point --------------------------------------
    a, roll = _sample_approaches(mesh, n, table_height is not None, rng)
    n = len(a)
    centre, long_axis, half = _object_axis(mesh)
    aim = centre + rng.uniform(-cfg["aim_range"], cfg["aim_range"], n)[:, None] * half * long_axis
    R = _rotations(a, roll, axes)

    # --- slide the pre-shaped hand in along -a until first contact ----------------------------
    # The thumb's two distal bones stand out in front of the palm: the object may pass beside
    # them into the thumb-index web, so they do not stop the hand (but must not end up inside).
    v_pre, j_pre = hand(np.zeros((1, 3)), preshape[None], np.zeros((1, 3)))
    v_pre, j_pre = v_pre[0], j_pre[0]
    bone_of_vertex = _vertex_bones(v_pre, j_pre)
    n_palm = len(PALM_BONES) + len(PALM_WEB)
    thumb_tip = (bone_of_vertex == n_palm + 1) | (bone_of_vertex == n_palm + 2)
    stopper = ~thumb_tip
    palm_point = 0.25 * j_pre[0] + 0.75 * j_pre[[5, 9, 13, 17]].mean(axis=0)
    start = aim + 0.4 * a
    transl0 = hand.transl_for(R, palm_point, start)
    verts0 = np.einsum("nij,vj->nvi", R, v_pre[stopper] - hand.wrist) + hand.wrist + transl0[:, None]
    num_v = int(stopper.sum())
    s_hand = _ray_distances(mesh, verts0.reshape(-1, 3), np.repeat(-a, num_v, axis=0)).reshape(n, num_v).min(1)
    keep_faces = stopper[hand.faces].all(axis=1)
    hand_mesh = trimesh.Trimesh(v_pre, hand.faces[keep_faces], process=False)
    obj_v = np.asarray(mesh.vertices)
    obj_in_hand = np.einsum("nji,nvj->nvi", R, obj_v[None] - hand.wrist - transl0[:, None]) + hand.wrist
    dir_in_hand = np.einsum("nji,nj->ni", R, a)
    s_obj = _ray_distances(
        hand_mesh, obj_in_hand.reshape(-1, 3), np.repeat(dir_in_hand, len(obj_v), axis=0)
    ).reshape(n, len(obj_v)).min(1)
    s_stop = np.minimum(s_hand, s_obj)
    hit = np.isfinite(s_stop)
    if table_height is not None:
        down = a[:, 2] > 1e-6
        s_table = np.where(down, (verts0[..., 2].min(1) - table_height) / np.where(down, a[:, 2], 1.0), np.inf)
        s_stop = np.minimum(s_stop, s_table)
    s_stop -= cfg["clearance"]
    transl = transl0 - a * s_stop[:, None]
    thumb_world = np.einsum("nij,vj->nvi", R, v_pre[thumb_tip] - hand.wrist) + hand.wrist + transl[:, None]
    thumb_clear = sdf(thumb_world).min(axis=1) > 0.0
    if table_height is not None:
        thumb_clear &= thumb_world[..., 2].min(axis=1) > table_height
    keep = hit & (s_stop > 0) & thumb_clear
    a, R, transl = a[keep], R[keep], transl[keep]
    n = len(a)
    if n == 0:
        return []

    # --- close each finger until it touches ---------------------------------------------------
    c = np.linspace(0.0, cfg["max_closure"], cfg["closure_samples"])
    _, j_k = hand(np.zeros((len(c), 3)), preshape + c[:, None] * direction, np.zeros((len(c), 3)))
    pts = _capsule_points(j_k, finger_radius)  # (K, P, 3), P = 15 bones x 4
    per_bone = pts.shape[1] // len(FINGER_BONES)
    radius = np.repeat(finger_radius, per_bone)
    world = np.einsum("nij,kpj->nkpi", R, pts - hand.wrist) + hand.wrist + transl[:, None, None]
    g_obj = sdf(world) - radius  # (n, K, P)
    g_tab = world[..., 2] - table_height - radius if table_height is not None else np.full_like(g_obj, np.inf)
    g = np.minimum(g_obj, g_tab)
    # which finger each point closes with; the thumb's metacarpal (bone 0) lies in the palm's
    # flesh and does not count as the thumb's contact
    finger_of_point = np.arange(pts.shape[1]) // (3 * per_bone)
    finger_of_point[:per_bone] = -1
    g_f = np.stack([g[..., finger_of_point == f].min(-1) for f in range(5)], axis=1)  # (n, 5, K)
    obj_f = np.stack([g_obj[..., finger_of_point == f].min(-1) for f in range(5)], axis=1)
    closure, touched = _crossing(g_f, c, 0.0)
    squeeze, _ = _crossing(g_f, c, -cfg["squeeze"])
    k_hit = np.clip(np.searchsorted(c, closure), 0, len(c) - 1)
    on_object = np.take_along_axis(obj_f, k_hit[..., None], -1)[..., 0] <= np.take_along_axis(
        g_f, k_hit[..., None], -1
    )[..., 0] + 1e-9
    contact = touched & on_object
    closure = np.where(touched, closure, 1.0)
    squeeze = np.where(touched, np.maximum(squeeze, closure), closure)
    slope = np.abs(np.diff(g_f, axis=-1)).max(-1) / (c[1] - c[0])  # m per unit closure, (n, 5)

    # --- contact normals, palm contact, balance ----------------------------------------------
    best_pt = np.stack(
        [np.argmin(np.where(finger_of_point == f, g_obj[np.arange(n), k_hit[:, f]], np.inf), axis=-1) for f in range(5)],
        axis=1,
    )  # (n, 5)
    contact_pts = world[np.arange(n)[:, None], k_hit, best_pt]  # (n, 5, 3)
    palm_a = np.einsum("nij,cj->nci", R, capsules.start[capsules.segment == 0]) + (j_pre[0] + transl)[:, None]
    palm_b = np.einsum("nij,cj->nci", R, capsules.end[capsules.segment == 0]) + (j_pre[0] + transl)[:, None]
    t = np.linspace(0.0, 1.0, 5)
    palm_pts = (palm_a[:, :, None] + t[None, None, :, None] * (palm_b - palm_a)[:, :, None]).reshape(n, -1, 3)
    palm_r = np.repeat(capsules.radius[capsules.segment == 0], len(t))
    d_palm = sdf(palm_pts) - palm_r
    palm_idx = d_palm.argmin(axis=1)
    palm_contact = d_palm[np.arange(n), palm_idx] <= cfg["palm_contact"]
    probe = np.concatenate([contact_pts, palm_pts[np.arange(n), palm_idx][:, None]], axis=1)  # (n, 6, 3)
    dist, closest = sdf.closest(probe.reshape(-1, 3))
    normal = (probe.reshape(-1, 3) - closest) * np.sign(dist + 1e-12)[:, None]
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    normal = normal.reshape(n, 6, 3)
    used = np.concatenate([contact, palm_contact[:, None]], axis=1)
    count = used.sum(axis=1)
    balance = np.linalg.norm((normal * used[..., None]).sum(axis=1), axis=1) / np.maximum(count, 1)
    # opposition: how squarely another contact pushes against the thumb (1 = head-on)
    opposing = -np.einsum("nk,nck->nc", normal[:, 0], normal[:, 1:])
    opposition = np.where(used[:, 1:], opposing, -1.0).max(axis=1)
    turn = np.mean([rotation_angle(R, p) for p in preferred], axis=0) if preferred else np.zeros(n)
    valid = contact[:, 0] & (count >= 2) & (balance <= cfg["max_balance"]) & (opposition >= cfg["min_opposition"])
    score = 0.5 * count + 0.3 * palm_contact + opposition - 2.0 * balance - 0.5 * turn
    order = [i for i in np.argsort(-score, kind="stable") if valid[i]][: cfg["num_keep"]]
    if not order:
        return []

    # --- refine on the skin: open fingers that sink too deep ----------------------------------
    idx = np.array(order)
    closure, squeeze, slope = closure[idx], squeeze[idx], slope[idx]
    vertex_finger = np.where(bone_of_vertex < n_palm, -1, (bone_of_vertex - n_palm) // 3)
    go = matrix_to_axis_angle_np(R[idx])
    for _ in range(3):
        verts, _ = hand(go, finger_pose(preshape, direction, closure), transl[idx])
        depth = np.maximum(-sdf(verts), 0.0)  # (m, V)
        pen = np.stack([np.where(vertex_finger == f, depth, 0.0).max(1) for f in range(5)], axis=1)
        over = pen > cfg["max_penetration"]
        if not over.any():
            break
        back = (pen - 0.5 * cfg["max_penetration"]) / np.maximum(slope, 1e-3)
        closure = np.where(over, np.maximum(closure - back, 0.0), closure)
    return [
        Grasp(
            rotation=R[i], transl=transl[i], hand_pose=finger_pose(preshape, direction, closure[j]),
            squeeze_pose=finger_pose(preshape, direction, np.maximum(squeeze[j], closure[j])), preshape=preshape,
            approach=a[i], finger_contact=contact[i], palm_contact=bool(palm_contact[i]),
            balance=float(balance[i]), score=float(score[i]),
        )
        for j, i in enumerate(order)
    ]


def _vertex_bones(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V,) index of each vertex's nearest bone in PALM_BONES + PALM_WEB + FINGER_BONES."""
    bones = PALM_BONES + PALM_WEB + FINGER_BONES
    return segment_distance(vertices, joints[[p for p, _ in bones]], joints[[c for _, c in bones]]).argmin(axis=1)
