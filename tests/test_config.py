"""pam.config: strict YAML into frozen dataclasses, errors that name the file and the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from pam.config import ConfigError, config_to_dict, load_config, save_config


@dataclasses.dataclass(frozen=True)
class Optim:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclasses.dataclass(frozen=True)
class Item:
    name: str
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class Job:
    objects: list[Item]
    seeds: int = 1
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    out: Path | None = None
    optim: Optim = Optim()
    cues: dict[str, float] = dataclasses.field(default_factory=dict)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_yaml_becomes_typed_frozen_dataclasses(tmp_path):
    job = load_config(Job, write(tmp_path, "objects: [{name: mug}, {name: can, scale: 2}]\nout: runs/x\n"
                                           "optim: {betas: [0.8, 0.9]}\ncues: {seg: 0.2}\n"))
    assert job.objects == [Item("mug"), Item("can", 2.0)] and isinstance(job.objects[1].scale, float)
    assert job.out == Path("runs/x") and job.optim == Optim(1e-4, (0.8, 0.9)) and job.cues == {"seg": 0.2}
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.seeds = 3  # type: ignore[misc]
    assert load_config(Job, config_to_dict(job)) == job  # round trip through plain data


@pytest.mark.parametrize(
    "text, message",
    [
        ("objects: [{name: mug, scal: 2}]", "objects[0].scal: unknown key"),
        ("objects: [{name: mug}, {name: can, scale: big}]", "objects[1].scale: expected a number, got 'big'"),
        ("objects: [{scale: 2}]", "objects[0].name: required"),
        ("seeds: 2", "objects: required"),
        ("objects: []\nseeds: true", "seeds: expected an integer, got True"),
        ("objects: []\ndtype: float16", "dtype: expected one of 'bf16', 'fp16', 'fp32'"),
        ("objects: []\noptim: {lr: -1}", "optim: lr must be positive"),
        ("objects: []\noptim: {betas: [0.9]}", "optim.betas: expected 2 values, got 1"),
        ("- a\n- b", "expected a mapping at the top level"),
        ("objects: [", "not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_dotted_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(Job, path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_overrides_apply_before_validation_and_are_checked():
    job = load_config(Job, {"objects": [{"name": "mug"}]}, ["optim.lr=3e-5", "seeds=4", "cues.seg=0.5"])
    assert job.optim.lr == 3e-5 and job.seeds == 4 and job.cues == {"seg": 0.5}
    with pytest.raises(ConfigError, match="optim.lrr: unknown key"):
        load_config(Job, {"objects": []}, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(Job, {"objects": []}, ["seeds"])


def test_saved_config_loads_back_equal(tmp_path):
    job = load_config(Job, {"objects": [{"name": "mug", "scale": 0.5}], "out": "a/b"})
    assert load_config(Job, save_config(job, tmp_path / "resolved.yaml")) == job
    assert load_config(Job, None, ["objects=[]"]) == Job(objects=[])
