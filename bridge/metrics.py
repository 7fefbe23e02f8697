"""Prometheus metrics (GET /metrics). Module-level: one registry per process.

Counters count what this process saw; gauges read from the database (outbox depth,
oldest job) are refreshed when /metrics is scraped, so every process reports the same.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter("smsbridge_webhooks_total", "Webhook requests by route and outcome", ["route", "outcome"])
INBOUND = Counter("smsbridge_inbound_messages_total", "Customer messages stored (duplicates excluded)")
OUTBOX = Gauge("smsbridge_outbox_jobs", "Outbox jobs by state", ["state"])
JOB_SECONDS = Histogram("smsbridge_job_seconds", "Time to run one outbox job attempt", ["kind"])

# SMS: "sent" when the provider accepted a text, then "delivered", "failed" or
# "undelivered" as its status arrives; error_code is the provider's ("" when none).
SMS = Counter("smsbridge_sms_total", "Outbound SMS by outcome and provider error code", ["status", "error_code"])

CHAT_API_SECONDS = Histogram(
    "smsbridge_chat_api_seconds",
    "Time of one chat API request (Slack Web API, Discord REST)",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CHAT_RATE_LIMITED = Counter("smsbridge_chat_rate_limited_total", "Chat API answers 429 (rate limited)", ["platform"])

OUTBOX_OLDEST_SECONDS = Gauge("smsbridge_outbox_oldest_job_seconds", "Age of the oldest outbox job not done yet (pending or running; 0: none)")

# Incremented by the SLA code when a conversation misses a target (first_reply,
# next_reply, resolution); exported at 0 until then.
SLA_BREACHES = Counter("smsbridge_sla_breaches_total", "Conversations that missed an SLA target", ["target"])

# 1 for the state this process's Discord gateway is in, 0 for the others.
DISCORD_GATEWAY_STATES = ("disabled", "standby", "connecting", "ready", "disconnected")
DISCORD_GATEWAY = Gauge("smsbridge_discord_gateway_state", "Discord gateway state of this process", ["state"])


def record_sms(status: str, error_code: str | None = None) -> None:
    SMS.labels(status, error_code or "").inc()


def set_discord_state(state: str) -> None:
    for name in DISCORD_GATEWAY_STATES:
        DISCORD_GATEWAY.labels(name).set(1 if name == state else 0)


set_discord_state("disabled")
for _target in ("first_reply", "next_reply", "resolution"):
    SLA_BREACHES.labels(_target)  # present at 0 before the first breach
