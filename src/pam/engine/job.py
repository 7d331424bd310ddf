"""Job specs: a YAML file naming objects, seeds, views and prompts, expanded into one ``ClipJob`` per clip.

``load_job(path)`` reads the YAML through :mod:`pam.config` (strict: an unknown key or a wrong type is a
``ConfigError`` naming the file and the dotted field). ``expand(spec)`` turns the spec into clip jobs in a
fixed order; every random choice (camera angles, prompt words, Stage II / III seeds) is drawn from a
generator seeded by a hash of the choice's own coordinates, and a job's ``clip_id`` is a hash of its
content, so the same spec always gives the same clips with the same ids, whatever the runner or worker
count. The schema is documented in ``docs/engine.md``.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from pam.config import ConfigError
from pam.objects.catalogue import BUILTIN_OBJECTS

#: The stages of one clip, in order; ``--until`` stops after one of them.
STAGES = ("pose", "conditions", "appearance", "motion")
#: Template fields a prompt may use.
PROMPT_FIELDS = ("object", "surface", "background", "lighting")

Dtype = Literal["bf16", "fp16", "fp32"]
Offload = Literal["none", "model", "sequential"]


def _range(name: str, value: tuple[float, ...], lo: float, hi: float) -> None:
    if len(value) != 2 or not lo <= value[0] <= value[1] <= hi:
        raise ValueError(f"{name}: expected [min, max] with {lo} <= min <= max <= {hi}, got {list(value)}")


@dataclass(frozen=True)
class ObjectSpec:
    """One object: a built-in name (``pam objects``) or a mesh file; ``scale`` maps mesh units to metres."""

    mesh: str
    scale: float = 1.0
    name: str = ""  # the label used in prompts and clip ids (default: the mesh name or file stem)

    def __post_init__(self) -> None:
        if not self.mesh:
            raise ValueError("mesh: empty object reference")
        if not Path(self.mesh).suffix and self.mesh not in BUILTIN_OBJECTS:
            raise ValueError(f"mesh: unknown built-in object {self.mesh!r}; choose from {', '.join(BUILTIN_OBJECTS)} "
                             "or give a mesh file")
        if not self.scale > 0:
            raise ValueError(f"scale: must be positive, got {self.scale}")

    @property
    def label(self) -> str:
        return self.name or Path(self.mesh).stem


#: The built-in scene's target lifts the grasped object by this much (metres; ``pose.keyframes.default_keyframes``).
DEFAULT_LIFT = 0.15


@dataclass(frozen=True)
class KeyframeSpec:
    """Stage I keyframes: explicit JSON files (``examples/pose_init.json``), else the built-in scene with
    its placement drawn per (object, seed) from the ranges: the object shifted on the table from the spot
    the hand reaches for (``object_x``, ``object_y``, metres) and turned about the vertical (``object_yaw``,
    degrees), the hand's start swung about that spot's vertical axis (``approach``, degrees; 0: from -y),
    and how far the goal lifts the object (``lift``, metres).
    """

    init: str | None = None
    target: str | None = None
    object_x: tuple[float, ...] = (0.0, 0.0)
    object_y: tuple[float, ...] = (0.0, 0.0)
    object_yaw: tuple[float, ...] = (0.0, 0.0)
    approach: tuple[float, ...] = (0.0, 0.0)
    lift: tuple[float, ...] = (DEFAULT_LIFT, DEFAULT_LIFT)

    def __post_init__(self) -> None:
        for name in ("object_x", "object_y"):
            _range(name, getattr(self, name), -1.0, 1.0)
        _range("object_yaw", self.object_yaw, -360.0, 360.0)
        _range("approach", self.approach, -180.0, 180.0)
        _range("lift", self.lift, 0.0, 1.0)
        moved = any(getattr(self, n) != (0.0, 0.0) for n in ("object_x", "object_y", "object_yaw", "approach"))
        if self.init is not None and moved:
            raise ValueError("init: the placement ranges apply to the built-in scene; put the placement in the init file")
        if self.target is not None and self.lift != (DEFAULT_LIFT, DEFAULT_LIFT):
            raise ValueError("target: lift applies to the built-in target; put the goal in the target file")


@dataclass(frozen=True)
class Placement:
    """One drawn placement of the built-in scene (see ``KeyframeSpec``): metres and degrees."""

    object_x: float = 0.0
    object_y: float = 0.0
    object_yaw: float = 0.0
    approach: float = 0.0
    lift: float = DEFAULT_LIFT

    @property
    def is_default(self) -> bool:
        return self == Placement()


@dataclass(frozen=True)
class GraspSpec:
    """Stage I grasp steering, passed to ``pam.pose.grasp.GraspRequest``; all None: Stage I chooses.

    ``approach``: direction from the object to the approaching hand (a name such as top / front / side, or
    x, y, z); ``region``: where to grasp (a part name of a built-in object, or x, y, z metres in the object's
    frame); ``roll``: wrist roll about the approach (radians); ``family``: power, precision or hook.
    """

    approach: str | tuple[float, ...] | None = None
    region: str | tuple[float, ...] | None = None
    roll: float | None = None
    family: str | None = None

    @property
    def is_set(self) -> bool:
        return any(v is not None for v in (self.approach, self.region, self.roll, self.family))


@dataclass(frozen=True)
class CameraSpec:
    """Camera views around the motion: angles in degrees drawn uniformly from the ranges.

    ``azimuth`` is measured in the world's ground plane from +x (the built-in scene's hand starts at -y,
    azimuth -90); ``elevation`` above the ground plane. ``distance`` (metres) is drawn from its range when
    given; by default (auto-framing) it is chosen so that the sphere around every hand and object point of
    the whole clip spans ``fill`` of the image's shorter side, which keeps both in frame throughout.
    """

    azimuth: tuple[float, ...] = (-110.0, -30.0)
    elevation: tuple[float, ...] = (20.0, 50.0)
    distance: tuple[float, ...] | None = None
    fill: float = 0.7
    fov: float = 50.0

    def __post_init__(self) -> None:
        _range("azimuth", self.azimuth, -360.0, 360.0)
        _range("elevation", self.elevation, -89.0, 89.0)
        if self.distance is not None:
            _range("distance", self.distance, 1e-3, 1e3)
        if not 0.05 <= self.fill <= 1.0:
            raise ValueError(f"fill: expected a fraction in [0.05, 1], got {self.fill}")
        if not 5.0 <= self.fov <= 120.0:
            raise ValueError(f"fov: expected a vertical field of view in [5, 120] degrees, got {self.fov}")


@dataclass(frozen=True)
class VideoSpec:
    """Size and length of every clip (conditions, first frame and video share them)."""

    height: int = 480
    width: int = 720
    frames: int = 49
    fps: float = 15.0

    def __post_init__(self) -> None:
        if self.height % 16 or self.width % 16 or self.height < 32 or self.width < 32:
            raise ValueError(f"height, width: multiples of 16 of at least 32 needed, got {self.height} x {self.width}")
        if self.frames < 17 or (self.frames - 1) % 4:
            raise ValueError(f"frames: Stage III needs 4k + 1 frames and Stage I at least 17, got {self.frames}")
        if not self.fps > 0:
            raise ValueError(f"fps: must be positive, got {self.fps}")


@dataclass(frozen=True)
class AppearanceSpec:
    """Stage II (first frame) settings shared by every clip (``pam.pipelines.options.AppearanceOptions`` is built
    from them per clip, with the clip's size and seed). ``base`` / ``controlnet`` None: the ``$PAM_HOME`` defaults;
    ``cues`` None: the cues the ControlNet was trained with."""

    steps: int = 28
    guidance: float = 4.0
    dtype: Dtype = "bf16"
    offload: Offload = "none"
    base: str | None = None
    controlnet: str | None = None
    cues: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MotionSpec:
    """Stage III (video) settings shared by every clip (``MotionOptions`` per clip, with its size, frames, fps and
    seed). ``controlnet``: our ControlNet folder or the release's Stage III transformer (default
    ``$PAM_HOME/PAM/motion``)."""

    steps: int = 50
    guidance: float = 6.0
    dtype: Dtype = "bf16"
    offload: Offload = "none"
    base: str | None = None
    controlnet: str | None = None
    negative_prompt: str | None = None
    cues: tuple[str, ...] | None = None


@dataclass(frozen=True)
class JobSpec:
    """A generation job: every (object, seed, view, prompt, candidate) combination is one clip."""

    objects: tuple[ObjectSpec, ...]
    prompts: tuple[str, ...]
    seeds: int = 1
    first_seed: int = 0
    views: int = 1
    candidates: int = 1
    surfaces: tuple[str, ...] = ("a wooden table", "a white desk", "a kitchen counter", "a grey table")
    backgrounds: tuple[str, ...] = ("a plain wall", "a kitchen", "an office", "a living room")
    lighting: tuple[str, ...] = ("soft daylight", "warm indoor light", "bright studio light")
    keyframes: KeyframeSpec = field(default_factory=KeyframeSpec)
    grasp: GraspSpec = field(default_factory=GraspSpec)
    camera: CameraSpec = field(default_factory=CameraSpec)
    video: VideoSpec = field(default_factory=VideoSpec)
    appearance: AppearanceSpec = field(default_factory=AppearanceSpec)
    motion: MotionSpec = field(default_factory=MotionSpec)
    render_backend: Literal["auto", "gl", "ray"] | None = None  # condition rasterizer (default: $PAM_RENDER_BACKEND, else auto)

    def __post_init__(self) -> None:
        if not self.objects:
            raise ValueError("objects: give at least one object")
        if not self.prompts:
            raise ValueError("prompts: give at least one prompt template")
        for name in ("seeds", "views", "candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in ("surfaces", "backgrounds", "lighting"):
            if not getattr(self, name):
                raise ValueError(f"{name}: give at least one value")
        for i, template in enumerate(self.prompts):
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as err:
                raise ValueError(f"prompts[{i}]: {err} in {template!r}") from err
            unknown = sorted(fields - set(PROMPT_FIELDS))
            if unknown:
                raise ValueError(f"prompts[{i}]: unknown field(s) {unknown}; templates may use {list(PROMPT_FIELDS)}")
        labels = [o.label for o in self.objects]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"objects: {twice} named twice; give each a distinct name")


def _normalise(data: Any) -> Any:
    """The YAML shorthands: ``objects: [mug]`` for ``[{mesh: mug}]``, ``prompts: "..."`` for a list of one."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    if isinstance(data.get("objects"), list):
        data["objects"] = [{"mesh": o} if isinstance(o, str) else o for o in data["objects"]]
    if isinstance(data.get("prompts"), str):
        data["prompts"] = [data["prompts"]]
    return data


def load_job(source: str | Path | dict, overrides: Sequence[str] = ()) -> JobSpec:
    """A ``JobSpec`` from a YAML file (or a mapping), with ``a.b=value`` overrides (``--set``).

    Raises ``pam.config.ConfigError`` (a ``ValueError``) naming the file and the dotted field.
    """
    import yaml

    from pam.config import apply_overrides, load_config

    if isinstance(source, dict):
        origin, data, base = "job spec", source, None
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"job spec {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        origin, base = str(path), path.parent
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings (objects, seeds, views, prompts, ...)")
    try:
        spec = load_config(JobSpec, _normalise(apply_overrides(data, overrides)))
    except ConfigError as err:  # load_config names a mapping source "config"
        raise ConfigError(f"{origin}: {str(err).removeprefix('config: ')}") from None
    return spec if base is None else _resolve_paths(spec, base, origin)


def _resolve_paths(spec: JobSpec, base: Path, origin: str) -> JobSpec:
    """Relative mesh and keyframe paths are taken relative to the spec file's folder."""

    def resolve(value: str | None) -> str | None:
        if value is None or Path(value).is_absolute() or not (base / value).exists():
            return value
        return str((base / value).resolve())

    objects = tuple(replace(o, mesh=resolve(o.mesh), name=o.label) for o in spec.objects)
    for i, o in enumerate(objects):
        if Path(o.mesh).suffix and not Path(o.mesh).is_file():
            raise ConfigError(f"{origin}: objects[{i}].mesh: no such file {o.mesh!r} (relative paths are "
                              "taken from the spec's folder)")
    keyframes = replace(spec.keyframes, init=resolve(spec.keyframes.init), target=resolve(spec.keyframes.target))
    return replace(spec, objects=objects, keyframes=keyframes)


@dataclass(frozen=True)
class ViewSpec:
    """One resolved camera view: angles in degrees; ``distance`` None means auto-framing with ``fill``."""

    index: int
    azimuth: float
    elevation: float
    distance: float | None
    fill: float
    fov: float


@dataclass(frozen=True)
class ClipJob:
    """Everything that defines one clip; ``clip_id`` is a hash of it (model locations, offload and the
    rasterizer excluded: they do not change the content)."""

    object: ObjectSpec
    pose_seed: int
    view: ViewSpec
    template: int
    candidate: int
    prompt: str
    appearance_seed: int
    motion_seed: int
    keyframes: KeyframeSpec
    grasp: GraspSpec
    video: VideoSpec
    appearance: AppearanceSpec
    motion: MotionSpec
    placement: Placement = field(default_factory=Placement)
    smoke: bool = False
    render_backend: str | None = None

    def to_dict(self) -> dict:
        from pam.config import config_to_dict

        return config_to_dict(self)

    def identity(self) -> dict:
        """The fields that decide the clip's content (what ``clip_id`` hashes)."""
        data = self.to_dict()
        data.pop("render_backend")
        for stage in ("appearance", "motion"):
            for key in ("offload", "base", "controlnet"):
                data[stage].pop(key)
        return data

    @property
    def clip_id(self) -> str:
        return f"{_slug(self.object.label)}-{_digest(self.identity())[:12]}"

    @property
    def pose_key(self) -> str:
        """A hash of what Stage I sees: clips differing only in view, prompt or candidate share a trajectory."""
        data = self.to_dict()
        return _digest({k: data[k] for k in ("object", "pose_seed", "keyframes", "placement", "grasp")}
                       | {"frames": self.video.frames, "fps": self.video.fps})


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:32] or "object"


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _rng(*coordinates: Any) -> np.random.Generator:
    """A generator seeded by the choice's coordinates: the same spec entry draws the same values."""
    return np.random.default_rng(int(_digest(list(coordinates))[:16], 16))


def expand(spec: JobSpec, smoke: bool = False, smoke_size: tuple[int, int] | None = None) -> list[ClipJob]:
    """All clip jobs of ``spec``: objects x seeds x views x prompts x candidates, in that order.

    ``smoke`` marks the jobs for the tiny random-weight models; ``smoke_size`` (height, width) then
    replaces the video size (the tiny models' size), while frames and fps stay as specified.
    """
    video = spec.video
    if smoke and smoke_size is not None:
        video = replace(video, height=smoke_size[0], width=smoke_size[1])
    jobs: list[ClipJob] = []
    for obj in spec.objects:
        for seed in range(spec.first_seed, spec.first_seed + spec.seeds):
            placement = _draw_placement(spec.keyframes, obj.label, seed)
            for v in range(spec.views):
                view = _draw_view(spec.camera, v, obj.label, seed)
                for t, template in enumerate(spec.prompts):
                    for c in range(spec.candidates):
                        rng = _rng("prompt", obj.label, seed, v, t, c)
                        words = {
                            "object": obj.label.replace("_", " "),
                            "surface": spec.surfaces[rng.integers(len(spec.surfaces))],
                            "background": spec.backgrounds[rng.integers(len(spec.backgrounds))],
                            "lighting": spec.lighting[rng.integers(len(spec.lighting))],
                        }
                        jobs.append(ClipJob(
                            object=obj, pose_seed=seed, view=view, template=t, candidate=c,
                            prompt=template.format(**words),
                            appearance_seed=int(rng.integers(2**31)), motion_seed=int(rng.integers(2**31)),
                            keyframes=spec.keyframes, grasp=spec.grasp, video=video,
                            appearance=spec.appearance, motion=spec.motion, placement=placement, smoke=smoke,
                            render_backend=spec.render_backend,
                        ))
    return jobs


def _draw_placement(keyframes: KeyframeSpec, label: str, seed: int) -> Placement:
    rng = _rng("placement", label, seed)
    values = {name: round(float(rng.uniform(*getattr(keyframes, name))), 5)
              for name in ("object_x", "object_y", "object_yaw", "approach", "lift")}
    return Placement(**values)


def _draw_view(camera: CameraSpec, index: int, label: str, seed: int) -> ViewSpec:
    rng = _rng("view", label, seed, index)
    azimuth = float(rng.uniform(*camera.azimuth))
    elevation = float(rng.uniform(*camera.elevation))
    distance = float(rng.uniform(*camera.distance)) if camera.distance is not None else None
    return ViewSpec(index=index, azimuth=round(azimuth, 4), elevation=round(elevation, 4),
                    distance=None if distance is None else round(distance, 5), fill=camera.fill, fov=camera.fov)
