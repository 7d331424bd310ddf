"""Test-wide settings: an isolated PAM_HOME so tests never read a user's real weights and keep
their computed caches (convex decompositions) inside the checkout, reused between local runs."""

import os
from pathlib import Path

os.environ["PAM_HOME"] = str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "pam-home")
os.environ.pop("PAM_MANO_DIR", None)
