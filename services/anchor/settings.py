from pydantic import Field, SecretStr, model_validator

from certflow.platform.settings import CommonSettings


class AnchorSettings(CommonSettings):
    anchor_port: int = 50052
    eth_rpc_url: str = "http://127.0.0.1:8545"
    # Several endpoints, comma-separated, in order of preference (overrides eth_rpc_url): a
    # failing one is retried with backoff, then the next is used.
    eth_rpc_urls: str = ""
    # Per RPC request, and tries per endpoint before moving on to the next.
    rpc_timeout_seconds: float = 10.0
    rpc_attempts_per_url: int = 3
    # The registry owner's key: from the environment or a mounted secret, never logged. Or,
    # so the key never sits in this process, a remote eth_signTransaction signer (Web3Signer,
    # Clef) holding it for the given address.
    anchor_private_key: SecretStr | None = None
    remote_signer_url: str = ""
    remote_signer_address: str = ""
    remote_signer_timeout_seconds: float = 10.0
    registry_address: str
    # A window closes at this many leaves or this age, whichever comes first.
    window_max_leaves: int = 200_000
    window_max_age_seconds: float = 2.0
    # Blocks on top of the anchoring block before a window counts as confirmed (1 = mined).
    confirmations: int = 1
    # Re-send the stored signed transaction when it is not mined after this long.
    rebroadcast_seconds: float = 30.0
    # EIP-1559: never pay more than this per gas; while the next block's base fee is above it,
    # nothing is sent. The tip: fixed, or (unset) the node's eth_maxPriorityFeePerGas.
    max_fee_per_gas_cap_gwei: float = 200.0
    priority_fee_gwei: float | None = None
    # A transaction not mined after this long is replaced at its nonce with bumped fees.
    replace_after_seconds: float = 180.0
    # After a revert or a refusal (say the key no longer owns the registry): first pause
    # before trying again, doubling up to the longest.
    retry_first_seconds: float = 30.0
    retry_longest_seconds: float = 1800.0
    # Warn (log, GetSignerStatus) when the signing account holds less than this; checked
    # this often.
    low_balance_eth: float = 0.05
    balance_check_seconds: float = 60.0
    fetch_batch: int = 200
    # Pending revocations close into one bulkRevoke transaction at this many leaves (each
    # costs ~24,200 gas: 500 stay well under a 30M block, more than 1,000 would not fit) or
    # this age, whichever comes first.
    revocation_window_max_leaves: int = Field(default=500, ge=1, le=1_000)
    revocation_window_max_age_seconds: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _one_signer(self) -> "AnchorSettings":
        remote = bool(self.remote_signer_url or self.remote_signer_address)
        if remote and not (self.remote_signer_url and self.remote_signer_address):
            raise ValueError("a remote signer needs CERTFLOW_REMOTE_SIGNER_URL and _ADDRESS both")
        if remote == (self.anchor_private_key is not None):
            raise ValueError(
                "set exactly one signer: CERTFLOW_ANCHOR_PRIVATE_KEY or a remote signer"
            )
        return self

    @property
    def rpc_urls(self) -> list[str]:
        listed = [url.strip() for url in self.eth_rpc_urls.split(",") if url.strip()]
        return listed or [self.eth_rpc_url]
