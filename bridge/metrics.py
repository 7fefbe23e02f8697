"""Prometheus metrics (GET /metrics). Module-level: one registry per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter("smsbridge_webhooks_total", "Webhook requests by route and outcome", ["route", "outcome"])
INBOUND = Counter("smsbridge_inbound_messages_total", "Customer messages stored (duplicates excluded)")
OUTBOX = Gauge("smsbridge_outbox_jobs", "Outbox jobs by state", ["state"])
JOB_SECONDS = Histogram("smsbridge_job_seconds", "Time to run one outbox job attempt", ["kind"])
