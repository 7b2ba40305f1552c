from certflow.settings import CommonSettings


class IngestSettings(CommonSettings):
    ingest_port: int = 50051
    issuer_id: str = "https://certflow.localhost/issuers/demo"
    issuer_name: str = "certflow Demo Academy"
    issuer_url: str = ""
    issuer_email: str = ""
    max_upload_bytes: int = 64 * 1024 * 1024
    max_rows_per_upload: int = 200_000
    # leaves per "certs.issued" message: many certificates ride in one message
    leaves_per_message: int = 1000
