"""Platform adapters shared by the services: settings, database, JetStream bus and outbox,
chain client, gRPC runtime and errors, telemetry. The pure domain lives in certflow.core."""
