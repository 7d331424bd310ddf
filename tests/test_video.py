"""H.264 video round trips, lossless depth/id storage, clear errors and no partial files."""

from __future__ import annotations


import numpy as np
import pytest

from pam.render.video import VideoError, VideoWriter, probe_video, read_video, write_video, write_videos
from pam.fileio import load_arrays, save_arrays
from samples import SAMPLES


def smooth_frames(t: int = 6, h: int = 64, w: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    frames = [np.stack([x * 2 + 5 * i, y * 3, (x + y + 10 * i) % 256], axis=-1) for i in range(t)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def test_round_trip_shape_fps_and_error(tmp_path):
    frames = smooth_frames()
    path = write_video(tmp_path / "clip.mp4", frames, fps=15)
    info = probe_video(path)
    assert (info.fps, info.height, info.width, info.codec) == (15.0, 64, 96, "h264")
    back = read_video(path)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - frames).mean() < 3
    np.testing.assert_array_equal(read_video(path, max_frames=2), back[:2])
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_flat_colours_survive(tmp_path):
    frames = np.zeros((3, 48, 64, 3), np.uint8)
    frames[:, 8:40, 8:56] = [92, 0, 255]
    back = read_video(write_video(tmp_path / "seg.mp4", frames, fps=8))
    assert np.abs(back[:, 16:32, 16:48].astype(int) - [92, 0, 255]).max() <= 4
    assert back[:, :4, :4].max() <= 4


def test_odd_size_is_padded_to_even(tmp_path):
    frames = smooth_frames(2, 33, 51)
    back = read_video(write_video(tmp_path / "odd.mp4", frames))
    assert back.shape == (2, 34, 52, 3)
    assert np.abs(back[:, :33, :51].astype(int) - frames).mean() < 3


def test_streaming_writer(tmp_path):
    frames = smooth_frames(4)
    with VideoWriter(tmp_path / "stream.mp4", fps=10) as video:
        assert not (tmp_path / "stream.mp4").exists()  # nothing at the final name until done
        for frame in frames:
            video.write(frame)
    assert video.num_frames == 4 and probe_video(video.path).fps == 10.0
    assert np.abs(read_video(video.path).astype(int) - frames).mean() < 3
    with pytest.raises(VideoError, match="frame 1"):
        with VideoWriter(tmp_path / "mixed.mp4") as video:
            video.write(frames[0])
            video.write(frames[0, :32])
    with pytest.raises(VideoError, match="no frames"):
        with VideoWriter(tmp_path / "empty.mp4"):
            pass
    with pytest.raises(KeyError):
        with VideoWriter(tmp_path / "crash.mp4") as video:
            video.write(frames[0])
            raise KeyError("crash while writing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.mp4"]


def test_bad_frames_leave_no_file(tmp_path):
    with pytest.raises(VideoError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(VideoError, match="fps"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.uint8), fps=0)
    assert not list(tmp_path.iterdir())


def test_unreadable_videos_give_clear_errors(tmp_path):
    with pytest.raises(VideoError, match="no such video"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        read_video(bad)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        probe_video(bad)


def test_truncated_video_is_an_error(tmp_path):
    path = write_video(tmp_path / "full.mp4", smooth_frames(8), fps=15)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(VideoError, match="cut.mp4"):
        read_video(cut)


def test_lossless_arrays_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.2, 2.0, (3, 40, 60)).astype(np.float32)
    depth[:, :20] = 0
    ids = rng.integers(0, 3, (3, 40, 60)).astype(np.uint16)
    path = save_arrays(tmp_path / "render.npz", depth=depth, ids=ids)
    back = load_arrays(path)
    assert back["depth"].dtype == np.float32 and back["ids"].dtype == np.uint16
    np.testing.assert_array_equal(back["depth"], depth)
    np.testing.assert_array_equal(back["ids"], ids)
    with np.load(path) as plain:  # a standard npz
        np.testing.assert_array_equal(plain["depth"], depth)
    with pytest.raises(ValueError, match=".npz"):
        save_arrays(tmp_path / "render.bin", depth=depth)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npz"):
        load_arrays(tmp_path / "junk.npz")


def test_write_videos_in_parallel_all_or_nothing(tmp_path):
    a, b = smooth_frames(4), smooth_frames(3, 32, 48)
    paths = write_videos({tmp_path / "a.mp4": a, tmp_path / "b.mp4": b}, fps=15)
    assert paths == [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    assert read_video(paths[0]).shape == a.shape and read_video(paths[1]).shape == b.shape
    lazy = write_videos({tmp_path / "g.mp4": (frame for frame in a)}, fps=15)  # frames from a generator
    np.testing.assert_array_equal(read_video(lazy[0]), read_video(paths[0]))
    bad = b.astype(np.float32)
    with pytest.raises(VideoError, match="c.mp4"):
        write_videos({tmp_path / "c.mp4": bad, tmp_path / "d.mp4": a}, fps=15)
    with pytest.raises(VideoError, match="f.mp4"):
        write_videos({tmp_path / "e.mp4": a, tmp_path / "f.mp4": a[..., :2]}, fps=15)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "g.mp4"]




@pytest.mark.skipif(not (SAMPLES / "dexycb").is_dir(), reason="official samples absent (set PAM_SHARED_DIR)")
def test_reads_the_official_rgb_sample():
    path = SAMPLES / "dexycb" / "val_video.mp4"
    info = probe_video(path)
    assert (info.height, info.width, info.fps) == (480, 640, 15.0)
    frames = read_video(path, max_frames=49)
    assert frames.shape == (49, 480, 640, 3) and frames.mean() > 20


def test_read_frame_of_image_and_video(tmp_path):
    from PIL import Image

    from pam.render.video import VideoError, read_frame

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_frame(tmp_path / "a.png"), image)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(VideoError, match="bad.png"):
        read_frame(tmp_path / "bad.png")
