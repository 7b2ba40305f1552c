"""The local stack for one machine: real nats-server, anvil, an SMTP sink and the four
services as separate processes. Used by `make run`, the end-to-end tests and the benchmark.
Not imported by the services themselves.
"""
