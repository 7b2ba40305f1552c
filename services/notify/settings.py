from pydantic import SecretStr

from certflow.settings import CommonSettings


class NotifySettings(CommonSettings):
    notify_port: int = 50053
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    # parallel SMTP connections, each reused for many messages
    smtp_connections: int = 4
    # ceiling on messages per second handed to the relay (providers throttle above theirs)
    rate_limit_per_second: float = 500.0
    mail_from: str = "certificates@certflow.localhost"
    mail_from_name: str = "certflow Demo Academy"
    verify_base_url: str = "http://127.0.0.1:8080"
    max_attempts: int = 8
    send_batch: int = 200
    # concurrent claim-render-send loops: one claims from the database while another sends
    sender_loops: int = 2
