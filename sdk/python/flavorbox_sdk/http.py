"""A small HTTP client over `wasi:http` (Python's own sockets do not exist
in the sandbox; the host sends the request, to granted origins only).

    from flavorbox_sdk import http
    response = http.get("https://vault.example:8200/v1/sys/health", timeout=3)
    response.raise_for_status()
    data = response.json()

Every request has a timeout (seconds, for the whole exchange: connecting,
sending, the answer and its body); the call's own deadline applies as well.
Failures raise `HttpError`, a `BackendError`, so an unhandled one answers
the operation with `backend`. Needs the `http` capability and an origin the
operator granted with `--allow-host`.
"""

import json as _json
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world.imports import monotonic_clock, outgoing_handler, poll, streams
from wit_world.imports import wasi_http_types as types

from .errors import BackendError

DEFAULT_TIMEOUT = 5.0
# Bytes written or read per stream operation (wasi:io allows 4096 per
# blocking write).
_CHUNK = 4096

_METHODS = {
    "GET": types.Method_Get,
    "HEAD": types.Method_Head,
    "POST": types.Method_Post,
    "PUT": types.Method_Put,
    "DELETE": types.Method_Delete,
    "OPTIONS": types.Method_Options,
    "PATCH": types.Method_Patch,
}


class HttpError(BackendError):
    """A request that failed, or (from `raise_for_status`) an error status."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class HttpTimeout(HttpError):
    """The exchange took longer than its timeout."""


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.status_code = status
        # Header names are lower case; repeated headers are joined by ", ".
        self.headers = headers
        self.body = body
        self.content = body

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return _json.loads(self.body)
        except ValueError as err:
            raise HttpError(f"HTTP {self.status}: the answer is not JSON ({err})", self.status)

    def raise_for_status(self):
        if not self.ok:
            raise HttpError(f"HTTP {self.status}", self.status)
        return self


def _describe(code):
    name = type(code).__name__.removeprefix("ErrorCode_")
    detail = getattr(code, "value", None)
    return f"{name} ({detail})" if detail is not None else name


def _wait(pollable, deadline, what):
    """Blocks until `pollable` is ready or the deadline passes."""
    remaining = deadline - monotonic_clock.now()
    if remaining <= 0:
        raise HttpTimeout(f"HTTP timeout while {what}")
    with monotonic_clock.subscribe_duration(remaining) as timer:
        ready = poll.poll([pollable, timer])
    if 0 not in ready:
        raise HttpTimeout(f"HTTP timeout while {what}")


def request(method, url, *, headers=None, body=None, json=None, timeout=DEFAULT_TIMEOUT,
            max_bytes=16 * 1024 * 1024):
    """Sends one request and reads the whole answer; returns a `Response`
    (any status: call `raise_for_status()` to treat 4xx/5xx as errors).

    `body` is bytes or str; `json` is serialized as JSON (and sets
    Content-Type). No redirect is followed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"not an http(s) URL: {url!r}")
    header_list = []
    for name, value in (headers or {}).items():
        header_list.append((name.lower(), str(value).encode()))
    if json is not None:
        body = _json.dumps(json, separators=(",", ":"))
        if not any(name == "content-type" for name, _ in header_list):
            header_list.append(("content-type", b"application/json"))
    if isinstance(body, str):
        body = body.encode()
    verb = method.upper()
    method_variant = _METHODS[verb]() if verb in _METHODS else types.Method_Other(verb)
    deadline = monotonic_clock.now() + int(timeout * 1_000_000_000)
    timeout_ns = int(timeout * 1_000_000_000)

    try:
        fields = types.Fields.from_list(header_list)
    except Err as err:
        raise HttpError(f"bad header: {type(err.value).__name__}") from None
    outgoing = types.OutgoingRequest(fields)
    outgoing.set_method(method_variant)
    outgoing.set_scheme(types.Scheme_Https() if parts.scheme == "https" else types.Scheme_Http())
    outgoing.set_authority(parts.netloc)
    path = parts.path or "/"
    outgoing.set_path_with_query(path + ("?" + parts.query if parts.query else ""))
    outgoing_body = outgoing.body()

    options = types.RequestOptions()
    for setter in (options.set_connect_timeout, options.set_first_byte_timeout,
                   options.set_between_bytes_timeout):
        try:
            setter(timeout_ns)
        except Err:
            pass  # the host keeps its own bound; ours is enforced below

    try:
        future = outgoing_handler.handle(outgoing, options)
    except Err as err:
        raise HttpError(f"{verb} {parts.scheme}://{parts.netloc} failed: {_describe(err.value)}") from None

    with future:
        if body:
            with outgoing_body.write() as stream:
                for start in range(0, len(body), _CHUNK):
                    try:
                        stream.blocking_write_and_flush(body[start:start + _CHUNK])
                    except Err:
                        raise HttpError("the request body could not be sent") from None
        types.OutgoingBody.finish(outgoing_body, None)

        with future.subscribe() as ready:
            _wait(ready, deadline, "waiting for the answer")
        answer = future.get()
        if answer is None or isinstance(answer.value, Err):
            raise HttpError("no answer")
        inner = answer.value
        if isinstance(inner, Err):
            raise HttpError(f"{verb} {parts.scheme}://{parts.netloc} failed: {_describe(inner.value)}")
        incoming = inner.value

    with incoming:
        status = incoming.status()
        response_headers = {}
        with incoming.headers() as fields:
            for name, value in fields.entries():
                text = value.decode("latin-1")
                response_headers[name] = (
                    response_headers[name] + ", " + text if name in response_headers else text
                )
        data = _read_body(incoming.consume(), deadline, max_bytes)
    return Response(status, response_headers, data)


def _read_body(incoming_body, deadline, max_bytes):
    chunks = []
    size = 0
    with incoming_body:
        with incoming_body.stream() as stream:
            while True:
                try:
                    chunk = stream.read(65536)
                except Err as err:
                    if isinstance(err.value, streams.StreamError_Closed):
                        break
                    raise HttpError("the answer's body broke off") from None
                if chunk:
                    size += len(chunk)
                    if size > max_bytes:
                        raise HttpError(f"the answer is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                    continue
                with stream.subscribe() as readable:
                    _wait(readable, deadline, "reading the answer")
    return b"".join(chunks)


def get(url, **kwargs):
    return request("GET", url, **kwargs)


def post(url, **kwargs):
    return request("POST", url, **kwargs)


def put(url, **kwargs):
    return request("PUT", url, **kwargs)


def delete(url, **kwargs):
    return request("DELETE", url, **kwargs)
