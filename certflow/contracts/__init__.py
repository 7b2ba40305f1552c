"""The compiled CertificateRegistry artifact (ABI + bytecode), built by `make contracts`."""

import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACT_PATH = Path(__file__).with_name("CertificateRegistry.json")


@cache
def registry_artifact() -> dict[str, Any]:
    return json.loads(ARTIFACT_PATH.read_text())
