from pydantic import Field

from certflow.platform.settings import CommonSettings


class VerifySettings(CommonSettings):
    verify_port: int = 50054
    verify_http_host: str = "0.0.0.0"
    verify_http_port: int = 8080
    # processes serving the public HTTP API on that port (SO_REUSEPORT; services/verify/
    # http_workers.py): up to one per core the pod or machine gives verify
    verify_http_workers: int = Field(default=1, ge=1, le=64)
    eth_rpc_url: str = "http://127.0.0.1:8545"
    # The registry this verifier trusts (an allow-list on top of the issuer binding: a registry
    # the issuer lists but this is not is UNKNOWN_ISSUER).
    registry_address: str
    # Issuer binding (docs/document.md): the DNS server asked for issuers' TXT records,
    # "host:port" (empty: the system's resolvers), and an origin that replaces scheme and host
    # of issuer profile URLs (empty: each issuer's own https id; set by the local stack and tests)
    issuer_dns_resolver: str = ""
    issuer_profile_base_url: str = ""
    # how long what an issuer publishes is reused (one DNS query per issuer per this long)
    issuer_binding_cache_seconds: float = 300.0
    issuer_binding_timeout_seconds: float = 3.0
    issuer_name: str = "certflow Demo Academy"
    max_document_bytes: int = 1_000_000
    # per client address, on the public HTTP API and the public gRPC VerifyService alike
    http_rate_per_second: float = 50.0
    http_rate_burst: float = 100.0
    # proxies (Ingress, load balancer) whose X-Forwarded-For / Forwarded are believed, as a
    # comma-separated CIDR list: the HTTP API limits the client those name instead of the proxy.
    # Empty: the peer is the client, and those headers are ignored
    trusted_proxies: str = ""
    # the public origin of the verification page, put in the certificate's QR code and links
    # ("https://verify.example.org"). Empty: the origin the request came to (fine locally; set it
    # behind a proxy, or a forged Host header would end up in a printed QR code)
    verify_public_url: str = ""
    # the issuer's colour on the printable certificate ("#rrggbb")
    certificate_accent_color: str = "#1f4e79"
    # "report a problem" form, per client: a few a minute
    problem_report_rate_per_second: float = 0.05
    problem_report_burst: float = 5.0
    # how long an "anchored at" answer is reused (final once mined at depth)
    anchor_cache_seconds: float = 300.0
    # how often revocation events are followed; a revocation shows within about this long
    revocation_poll_seconds: float = 2.0
    # the registry's deployment block: revocation events are followed from there
    registry_first_block: int = 0
    # blocks per getLogs request while following revocations (providers cap the range)
    revocation_sync_blocks: int = 5_000
    # how long one round of following may take (many ranges on a long chain) before it is
    # given up; the next round resumes from the last range done
    revocation_sync_seconds: float = 30.0
    # how long one verification waits for the chain before answering CHAIN_UNAVAILABLE
    # (HTTP 503 / gRPC UNAVAILABLE); web3's own retries are off on this path
    verify_deadline_seconds: float = 5.0
