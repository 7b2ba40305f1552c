"""Entrypoint: `python -m services.notify` (or `certflow-notify`)."""

from datetime import timedelta

from certflow.platform import bus
from certflow.platform.rate_limit import TokenBucket
from certflow.platform.service_setup import database, jetstream, new_runtime, run_service
from certflow.v1 import notify_service_pb2, notify_service_pb2_grpc
from services.notify.deliveries import Deliveries
from services.notify.outcome_policy import RetryPolicy, claim_size
from services.notify.relay_breaker import RelayBreaker
from services.notify.rendering import Sender
from services.notify.sender import SmtpPool
from services.notify.servicer import NotifyServicer
from services.notify.settings import NotifySettings
from services.notify.worker import Notifier, Sending, SendingRules


async def serve(settings: NotifySettings) -> None:
    runtime = new_runtime("notify", settings, settings.notify_port)
    _, sessions = database(runtime, settings.database_url)
    _, js = await jetstream(runtime, settings.nats_url, "certflow-notify")
    deliveries = Deliveries(sessions, message_id_domain=settings.mail_from.rsplit("@", 1)[-1])
    pool = SmtpPool(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        implicit_tls=settings.smtp_implicit_tls,
        timeout=settings.smtp_timeout_seconds,
        send_deadline=settings.send_deadline_seconds,
        connections=settings.smtp_connections,
        mail_from=settings.mail_from,
    )
    runtime.on_shutdown(pool.close)
    notifier = Notifier(sending(settings, deliveries, pool))
    subscription = await bus.pull_subscription(
        js, bus.ConsumerSpec(durable="notify", subject=bus.SUBJECT_ANCHORED)
    )
    notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(
        NotifyServicer(deliveries), runtime.server
    )
    runtime.add_service(notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name)
    runtime.spawn(notifier.consume(subscription, runtime.stopping), "consume-anchored")
    for index in range(max(settings.sender_loops, 1)):
        runtime.spawn(notifier.send(runtime.stopping), f"send-emails-{index}")
    await runtime.run()


def sending(settings: NotifySettings, deliveries: Deliveries, pool: SmtpPool) -> Sending:
    rate = settings.rate_limit_per_second
    return Sending(
        deliveries=deliveries,
        pool=pool,
        sender=Sender(settings.mail_from, settings.mail_from_name, settings.verify_base_url),
        rate=TokenBucket(rate, burst=max(rate / 10, 1)),
        rules=SendingRules(
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_base=timedelta(seconds=settings.retry_backoff_seconds),
                backoff_max=timedelta(seconds=settings.retry_backoff_max_seconds),
            ),
            lease=timedelta(seconds=settings.claim_lease_seconds),
            claim_size=claim_size(
                rate_per_second=rate,
                lease_seconds=settings.claim_lease_seconds,
                sender_loops=settings.sender_loops,
                ceiling=settings.send_batch,
            ),
            max_unrecorded=settings.max_unrecorded_sends,
        ),
        breaker=RelayBreaker(settings.relay_probe_seconds, settings.relay_probe_max_seconds),
    )


def main() -> None:
    run_service("notify", NotifySettings, serve)


if __name__ == "__main__":
    main()
