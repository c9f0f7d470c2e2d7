"""The only HTTP code: one `httpx.Client`, and reading an HTTP answer into an `Outcome`.

Webhook URLs are secrets. `Transport.send` registers every URL it is given with the redactor, and a failure
becomes a `TransportError` whose reason is built from the exception's class name and its redacted message:
never the URL, never the exception itself (httpx's exceptions carry the request). Redirects are not followed
(a webhook that redirects is misconfigured, and following would send the body elsewhere). httpx's and httpcore's
loggers write URLs and response headers: importing this module puts a `RedactingFilter` on each of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, NamedTuple

from tailer import __version__
from tailer.errors import TransportError
from tailer.notify import SENT, Outcome
from tailer.secrets import RedactingFilter, redact, register

if TYPE_CHECKING:
    import httpx

# httpx logs each request's full URL at INFO ("HTTP Request: POST https://hooks..."), httpcore's DEBUG traces
# carry response headers (a redirect's Location). A logger's filters see only its own records: name each one.
_HTTP_LOGGERS = (
    "httpx",
    *(f"httpcore.{n}" for n in ("connection", "connection_pool", "http11", "http2", "proxy", "socks")),
)
for _name in _HTTP_LOGGERS:
    logging.getLogger(_name).addFilter(RedactingFilter())

BODY_LIMIT = 2000  # characters of a response body kept
REASON_LIMIT = 300  # characters of a response body put in a reason


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lowercased
    body: str  # the first BODY_LIMIT characters


class Transport:
    """One HTTP client (connection pool) shared by the webhook notifiers of a process."""

    def __init__(self, timeout: float = 10.0) -> None:
        import httpx  # here, not at the top: `check` and a dry run, which send nothing, go without it

        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"user-agent": f"kong-tailer/{__version__}"},
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> Response:
        """Send one request and read (the start of) its answer; TransportError when there is no answer."""
        import httpx

        register(url)
        query = None if params is None else tuple(params.items() if isinstance(params, Mapping) else params)
        try:
            request = self._client.build_request(method, url, headers=headers, content=content, params=query)
            response = self._client.send(request, stream=True)
            try:
                body = _read_start(response)
            finally:
                response.close()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise TransportError(failure_reason(exc)) from None
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return Response(response.status_code, headers_out, body)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Request(NamedTuple):
    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    params: list[tuple[str, str]] | None


Classify = Callable[[int, dict[str, str], str], Outcome]


def exchange(transport: Transport, request: Request, classify: Classify) -> Outcome:
    """Send `request` and read its answer with `classify`; no answer at all is a `retry`."""
    try:
        response = transport.send(
            request.method, request.url, headers=request.headers, content=request.content, params=request.params
        )
    except TransportError as exc:
        return Outcome("retry", exc.reason)
    return classify(response.status, response.headers, response.body)


def _read_start(response: httpx.Response) -> str:
    """The first BODY_LIMIT characters of the body, without reading a huge body to its end."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= 4 * BODY_LIMIT:
            break
    return data.decode(response.encoding or "utf-8", errors="replace")[:BODY_LIMIT]


def failure_reason(exc: BaseException) -> str:
    """`ConnectError: [Errno 111] Connection refused`: the class name and the redacted message."""
    message = one_line(redact(str(exc)))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` on one line, whitespace collapsed, cut at `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe(status: int, body: str) -> str:
    """`400 invalid_payload`: the status and the (redacted, one-line) body, else the status's phrase."""
    text = one_line(redact(body))
    if not text:
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = ""
    return f"{status} {text}".rstrip()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    name = name.lower()
    return next((v for k, v in headers.items() if k.lower() == name), None)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP-date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # `-0000`: UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_http(status: int, headers: Mapping[str, str], body: str, *, now: datetime | None = None) -> Outcome:
    """A plain webhook's answer: 2xx sent; 429, 408 and 5xx retry (after Retry-After when given); else dead."""
    if 200 <= status < 300:
        return SENT
    reason = describe(status, body)
    if status in (408, 429) or status >= 500:
        return Outcome("retry", reason, retry_after(header(headers, "retry-after"), now), status)
    return Outcome("dead", reason, code=status)
