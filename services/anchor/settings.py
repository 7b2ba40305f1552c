from pydantic import SecretStr

from certflow.platform.settings import CommonSettings


class AnchorSettings(CommonSettings):
    anchor_port: int = 50052
    eth_rpc_url: str = "http://127.0.0.1:8545"
    # The registry owner's key: from the environment or a mounted secret, never logged.
    anchor_private_key: SecretStr
    registry_address: str
    # A window closes at this many leaves or this age, whichever comes first.
    window_max_leaves: int = 200_000
    window_max_age_seconds: float = 2.0
    # Blocks on top of the anchoring block before a window counts as confirmed (1 = mined).
    confirmations: int = 1
    # Re-send the stored signed transaction when it is not mined after this long.
    rebroadcast_seconds: float = 30.0
    fetch_batch: int = 200
