"""A webhook notifier's request, Kong Event Hooks style (pure: no I/O).

Modes, as Kong's `webhook` and `webhook-custom` handlers:

    default     POST, `content-type: application/json`, the alert as Kong's webhook body (`kong_webhook_body`);
                a digest is `{"source": SOURCE, "event": "digest", "key", "count", "alerts": [...]}`
    payload     a table of templates, rendered per alert: GET/HEAD/DELETE send it as the query string, other
                methods as JSON (or urlencoded when the content type says `x-www-form-urlencoded`)
    body        one template sent as the body; values are escaped as JSON string content when the content
                type contains `json`, else sent raw

A digest (several alerts in one message) renders the templates once per alert: a payload's query keys repeat,
a JSON payload is wrapped in the digest envelope, bodies are joined by newlines (JSON Lines). With `secret`, the
body is signed as Kong does: `X-Kong-Signature: sha1=<hex HMAC-SHA1(secret, body)>` (a GET signs its empty
body). `X-Kong-Tailer-Key` carries the message's idempotency key, so a receiver can drop a retried duplicate.
Header values are sent as configured, never templated (a log value must not reach a header).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TextIO
from urllib.parse import urlencode

from tailer.alerts import Alert, Message
from tailer.errors import ConfigError
from tailer.notify import Outcome
from tailer.notify.build import URL_KEYS, describe_url, needs_url, policy_for, secret_option
from tailer.notify.kind import Built, NotifierType, Problem
from tailer.notify.payload import SOURCE, kong_webhook_body
from tailer.notify.transport import Request, Transport, classify_http, exchange
from tailer.rules.model import NotifierConfig
from tailer.rules.values import one_of, string, string_map, template_text
from tailer.template import Template, compile_template, no_escape

Params = list[tuple[str, str]]
QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE"})
PREVIEW_URL = "http://preview.invalid/"  # stands in for the (secret) URL in a dry run


def build_request(message: Message, options: dict[str, Any]) -> Request:
    """The request for `message` under a webhook notifier's (validated) `options`."""
    method = str(options.get("method") or "POST").upper()
    headers = {str(k).lower(): str(v) for k, v in (options.get("headers") or {}).items()}
    headers.setdefault("content-type", "application/json")
    headers["x-kong-tailer-key"] = message.key
    params: Params | None = None
    if options.get("body") is not None:
        content = _body(message, _template(options["body"]), headers["content-type"])
    elif options.get("payload"):
        payload = {str(k): _template(v) for k, v in options["payload"].items()}
        if method in QUERY_METHODS:
            params, content = _query(message, payload), b""
        else:
            content = _encode_payload(message, payload, headers["content-type"])
    else:
        content = _json(_digest(message, [kong_webhook_body(a) for a in message.alerts]))
    if not content:
        del headers["content-type"]
    if options.get("secret"):
        headers["x-kong-signature"] = sign(str(options["secret"]), content)
    return Request(method, str(options["url"]), headers, content, params)


def sign(secret: str, content: bytes) -> str:
    """Kong's signature header value: `sha1=<hex HMAC-SHA1(secret, body)>`."""
    return "sha1=" + hmac.new(secret.encode(), content, hashlib.sha1).hexdigest()


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return compile_template(source)


def _template(value: str | Template) -> Template:
    return value if isinstance(value, Template) else _compiled(str(value))


def json_string_content(text: str) -> str:
    """`text` escaped to sit between the quotes of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _body(message: Message, template: Template, content_type: str) -> bytes:
    escape = json_string_content if "json" in content_type.lower() else no_escape
    return "\n".join(a.fill(template, escape) for a in message.alerts).encode()


def _rendered(alert: Alert, payload: dict[str, Template]) -> dict[str, str]:
    return {k: alert.fill(t, no_escape) for k, t in payload.items()}


def _query(message: Message, payload: dict[str, Template]) -> Params:
    return [item for alert in message.alerts for item in _rendered(alert, payload).items()]


def _encode_payload(message: Message, payload: dict[str, Template], content_type: str) -> bytes:
    if "x-www-form-urlencoded" in content_type.lower():
        return urlencode(_query(message, payload)).encode()
    return _json(_digest(message, [_rendered(a, payload) for a in message.alerts]))


def _digest(message: Message, bodies: list[Any]) -> Any:
    """One alert's body as is; several in the digest envelope."""
    if len(bodies) == 1:
        return bodies[0]
    return {"source": SOURCE, "event": "digest", "key": message.key, "count": len(bodies), "alerts": bodies}


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class WebhookDestination:
    """A Kong Event Hooks style webhook (`build_request`)."""

    def __init__(self, options: dict[str, Any], transport: Transport, *, name: str = "webhook") -> None:
        self.options = options
        self.transport = transport
        self.name = name

    def render(self, message: Message) -> str:
        """The request but its URL (a secret): method, headers (the signature is no secret), body, params."""
        r = build_request(message, self.options)
        return json.dumps(
            {
                "method": r.method,
                "headers": r.headers,
                "body": r.content.decode("utf-8", "surrogateescape"),
                "params": r.params,
            },
            ensure_ascii=False,
        )

    def send(self, payload: str) -> Outcome:
        r = json.loads(payload)
        content = r["body"].encode("utf-8", "surrogateescape")
        params = None if r["params"] is None else [(k, v) for k, v in r["params"]]
        request = Request(r["method"], self.options["url"], r["headers"], content, params)
        return exchange(self.transport, request, classify_http)


SECRET_KEYS = ("secret", "secret_env", "secret_file", "secret_credential")


def validate(values: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for k, v in values.get("payload", {}).items():
        try:
            compile_template(v)
        except ConfigError as exc:
            problems.append(("payload", f"payload.{k}: {exc}"))
    return problems + needs_url(values)


def build(config: NotifierConfig, environ: Mapping[str, str], console: TextIO) -> Built:
    """The webhook, its URL and signing secret resolved; ConfigError when no URL is found."""
    name = config.name
    timeout = policy_for(config).timeout
    url = secret_option(config, "url", environ)
    if url is None:
        raise ConfigError(f"{config.file}:{config.line}: notifier '{name}': no URL found (url_env, url_file, ...)")
    options = {**config.options, "url": url}
    secret = secret_option(config, "secret", environ)
    if secret is not None:
        options["secret"] = secret
    return WebhookDestination(options, Transport(timeout=timeout), name=name), None


def payload(message: Message, config: NotifierConfig) -> Any:
    """The body that would be sent (JSON data when it is JSON, else text), to a stand-in URL."""
    request = build_request(message, {**config.options, "url": PREVIEW_URL})
    try:
        return json.loads(request.content)
    except ValueError:
        return request.content.decode("utf-8", "replace")


TYPE = NotifierType(
    "webhook",
    options={
        **dict.fromkeys(URL_KEYS + SECRET_KEYS, string),
        "method": one_of(("GET", "POST", "PUT", "PATCH")),
        "headers": string_map,
        "payload": string_map,
        "body": template_text,
    },
    build=build,
    describe=describe_url,
    payload=payload,
    validate=validate,
    secrets=("url", "secret"),
)
