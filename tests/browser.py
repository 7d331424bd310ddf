"""Headless chromium screenshots for the tests of the HTML pages (gallery, metrics report); tests that use
them skip where chromium is not installed."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")


def screenshot(page: Path, shot: Path, width: int, height: int) -> np.ndarray | None:
    """Render the HTML file ``page`` in headless chromium at ``width`` x ``height``; the screenshot
    (written to ``shot``) as a BGR image (height, width, 3), or None where chromium wrote nothing readable."""
    import cv2

    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", f"--screenshot={shot}", f"--window-size={width},{height}",
                    page.as_uri()], check=True, capture_output=True, timeout=60)
    return cv2.imread(str(shot))
