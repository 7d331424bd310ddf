"""Independent readers of `pam export`'s documented layouts (only yaml, numpy, PIL and tarfile), for the
engine's export tests."""

import io
import json
import tarfile

import numpy as np
import yaml
from PIL import Image


def read_dexycb(dest):
    """sequence name -> (meta, K, [(color, labels)] per frame, betas), read the way DexYCB's toolkit reads its
    layout: one hand per sequence (``mano_sides[0]``), betas from ``calibration/mano_<mano_calib[0]>/mano.yml``,
    frames under ``<sequence>/<serial>/``, intrinsics from ``calibration/intrinsics/<serial>_<W>x<H>.yml``."""
    sequences = {}
    for meta_path in sorted((dest / "pam").glob("*/meta.yml")):
        meta = yaml.safe_load(meta_path.read_text())
        serial = meta["serials"][0]
        frames = []
        for t in range(meta["num_frames"]):
            color = np.asarray(Image.open(meta_path.parent / serial / f"color_{t:06d}.jpg"))
            labels = dict(np.load(meta_path.parent / serial / f"labels_{t:06d}.npz"))
            frames.append((color, labels))
        H, W = frames[0][0].shape[:2]
        intr = yaml.safe_load((dest / "calibration" / "intrinsics" / f"{serial}_{W}x{H}.yml").read_text())["color"]
        K = np.array([[intr["fx"], 0, intr["ppx"]], [0, intr["fy"], intr["ppy"]], [0, 0, 1]])
        calib = dest / "calibration" / f"mano_{meta['mano_calib'][0]}" / "mano.yml"
        betas = yaml.safe_load(calib.read_text())["betas"]
        sequences[meta_path.parent.name] = (meta, K, frames, betas)
    return sequences


def read_webdataset(shards):
    """Samples {"__key__", "jpg" (PIL image), "json" (dict)} of tar shards, with webdataset where installed,
    else by the documented convention (files of a sample share the key up to the first dot)."""
    try:
        import webdataset as wds
    except ImportError:
        samples = []
        for shard in shards:
            with tarfile.open(shard) as tar:
                grouped = {}
                for member in tar.getmembers():
                    key, ext = member.name.split(".", 1)
                    grouped.setdefault(key, {})[ext] = tar.extractfile(member).read()
            samples += [{"__key__": k, "jpg": Image.open(io.BytesIO(v["jpg"])), "json": json.loads(v["json"])}
                        for k, v in grouped.items()]
        return samples
    return list(wds.WebDataset([str(s) for s in shards], shardshuffle=False).decode("pil"))
