"""Notification channels: how an alert transition is sent to a webhook, a Slack-compatible webhook, an
SMTP server or the log. Senders raise on failure; the delivery loop retries them with backoff."""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("mainsail.alerts")
LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
ICONS = {"firing": ":rotating_light:", "resolved": ":white_check_mark:", "test": ":wave:"}


def pack_secret(url: str | None = None, headers: dict[str, str] | None = None,
                password: str | None = None) -> str | None:
    """Every secret of a channel as one value, sealed at rest (:func:`mainsail.core.secrets.seal`)."""
    from mainsail.core.secrets import seal

    secret = {k: v for k, v in {"url": url, "headers": headers or None, "password": password}.items() if v}
    return seal(json.dumps(secret)) if secret else None


def unpack_secret(text: str | None) -> dict[str, Any]:
    """A channel's secrets, unsealed (a value stored before sealing, plain JSON, is still read)."""
    from mainsail.core.secrets import unseal

    if not text:
        return {}
    return json.loads(text if text.startswith("{") else unseal(text))


def mask_url(url: str | None) -> str | None:
    """``https://hooks.slack.com/…``: scheme and host only (paths and queries carry tokens)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def headline(payload: dict[str, Any]) -> str:
    """One line: ``[FIRING] drift-high (warning): …``."""
    return f"[{payload['status'].upper()}] {payload['rule']} ({payload['severity']}): {payload['summary']}"


def send(kind: str, config: dict[str, Any], secret: dict[str, Any], payload: dict[str, Any]) -> None:
    """Send ``payload`` (an alert transition) through one channel; raise with a one-line reason on failure."""
    if kind == "webhook":
        _post(secret["url"], payload, secret.get("headers") or {}, config.get("timeout", 10))
    elif kind == "slack":
        _post(secret["url"], slack_body(payload), {}, config.get("timeout", 10))
    elif kind == "email":
        send_email(config, secret.get("password"), payload)
    elif kind == "log":
        log.log(LEVELS.get(payload.get("severity", "warning"), logging.WARNING), "%s labels=%s", headline(payload),
                json.dumps(payload.get("labels", {}), sort_keys=True))
    else:  # pragma: no cover - the schema allows only the kinds above
        raise ValueError(f"unknown channel kind {kind!r}")


def _post(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    import httpx

    try:
        response = httpx.post(url, json=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"POST {mask_url(url)} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        raise RuntimeError(f"POST {mask_url(url)} answered HTTP {response.status_code}: {response.text[:200]}")


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the fallback) and blocks (header, fields, labels)."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(payload.get("labels", {}).items()))
    fields = [f"*Severity:* {payload['severity']}", f"*State:* {payload['status']}"]
    if payload.get("value") is not None:
        fields.append(f"*Value:* {payload['value']:.4g}")
    if payload.get("threshold") is not None:
        fields.append(f"*Threshold:* {payload['threshold']:.4g}")
    return {
        "text": f"{ICONS.get(payload['status'], '')} {headline(payload)}".strip(),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"{ICONS.get(payload['status'], '')} *{payload['rule']}*: "
                                                 f"{payload['summary']}"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": labels or "no labels"}]},
        ],
    }


def send_email(config: dict[str, Any], password: str | None, payload: dict[str, Any]) -> None:
    """Send the transition as a plain-text email over SMTP (optionally SSL or STARTTLS, and login)."""
    msg = EmailMessage(policy=policy.SMTP.clone(max_line_length=400))  # the subject stays one line
    msg["Subject"] = headline(payload)[:250]
    msg["From"] = config["sender"]
    msg["To"] = ", ".join(config["to"])
    lines = [headline(payload), ""]
    lines += [f"{k}: {payload[k]}" for k in ("value", "threshold", "started_at", "fired_at", "resolved_at")
              if payload.get(k) is not None]
    lines += ["", "labels:"] + [f"  {k}={v}" for k, v in sorted(payload.get("labels", {}).items())]
    lines += ["", f"alert id: {payload.get('alert_id')}"]
    msg.set_content("\n".join(lines))
    timeout = config.get("timeout", 10)
    host, port = config["host"], config.get("port", 25)
    try:
        smtp_cls = smtplib.SMTP_SSL if config.get("ssl") else smtplib.SMTP
        with smtp_cls(host, port, timeout=timeout) as smtp:
            if config.get("starttls") and not config.get("ssl"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("username"):
                smtp.login(config["username"], password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise RuntimeError(f"SMTP {host}:{port} failed: {type(exc).__name__}: {exc}") from None
