"""Where the tests find the authors' release samples: ``$PAM_SHARED_DIR/data/official-samples``, by
default ``<repo>/../shared`` (CI clones the repository beside the shared folder). Tests that read
them skip when the folder is absent."""

import os
from pathlib import Path

SHARED = Path(os.environ.get("PAM_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SAMPLES = SHARED / "data" / "official-samples"
