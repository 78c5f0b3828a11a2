"""The fault proxy: an HTTP proxy between boto3 and the sandbox AWS that misbehaves on request.

An environment whose ``aws_endpoint_url`` points here instead of at moto sees the same AWS,
except that, per rule, a share of the calls to one service (or one operation) is answered with:

- ``throttle``: the service's throttling error with its real status and body shape —
  ``ProvisionedThroughputExceededException`` for DynamoDB, ``ThrottlingException`` for the
  JSON protocols (Step Functions, SQS, CloudWatch Logs), ``Throttling`` for the query and
  REST-XML ones (CloudWatch, STS, Route 53, CloudFormation), ``SlowDown`` (503) for S3;
- ``error5xx``: ``InternalFailure`` / ``ServiceUnavailable`` with status 500 or 503;
- ``timeout``: the request is held ``seconds`` and the connection closed, unanswered and
  never forwarded (the client's read timeout fires first);
- ``lost_response``: the request IS forwarded (AWS applied it) but the answer is held and
  dropped — the ambiguous case where the caller cannot know whether its call took effect;
- ``latency``: ``seconds`` of delay, then forwarded as usual.

The service comes from the X-Amz-Target header (JSON protocols) or the SigV4 credential scope
of the Authorization header; the operation from X-Amz-Target or the ``Action`` parameter.

Runtime control, over HTTP on the proxy itself (moto's own ``/moto-api/`` is passed through):

    GET    /_faults           the rules and the counters
    PUT    /_faults           {"rules": [{"service": "stepfunctions", "fault": "throttle", "rate": 1.0}]}
    DELETE /_faults           no rules, counters kept
    GET    /_faults/calls     every call seen: service, operation, fault injected, forwarded or
                              not, and for task-token calls a SHA-256 prefix of the token
    DELETE /_faults/calls     forget the calls

``python manage.py sandbox_faults`` runs it and switches rules (see its ``--help``). Tests
start it in a thread with ``FaultProxy(upstream=...).start()``. Sandbox only: it is not part
of the control plane and nothing in ``controlplane/`` knows it exists.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("throttle", "error5xx", "timeout", "lost_response", "latency")
CONTROL_PATH = "/_faults"
MAX_CALLS_KEPT = 20_000

# SigV4 signing names that differ from the names the control plane and boto3 use.
SIGNING_NAMES = {"states": "stepfunctions", "monitoring": "cloudwatch", "email": "ses", "execute-api": "apigateway"}
# X-Amz-Target prefixes of the JSON protocols.
TARGET_PREFIXES = {
    "AWSStepFunctions": "stepfunctions",
    "DynamoDB": "dynamodb",
    "DynamoDBStreams": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "Logs": "logs",
    "AWSEvents": "events",
    "AmazonSSM": "ssm",
    "TrentService": "kms",
    "GraniteServiceVersion20100801": "cloudwatch",
}
REST_XML_SERVICES = {"route53", "s3", "cloudfront"}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class FaultRule:
    """Inject ``fault`` into ``rate`` (0..1) of the calls to ``service`` (and ``operation``, if
    given). ``seconds`` is the delay of latency, timeout and lost_response; ``count`` caps how
    many times the rule fires (None: no cap); ``code`` overrides the error code."""

    service: str
    fault: str
    rate: float = 1.0
    operation: str = ""
    seconds: float = 30.0
    count: int | None = None
    code: str = ""
    fired: int = 0

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, not {self.rate!r}")
        self.rate = float(self.rate)
        self.seconds = float(self.seconds)

    def matches(self, service: str, operation: str) -> bool:
        if self.service not in ("*", service):
            return False
        if self.operation and self.operation != operation:
            return False
        return self.count is None or self.fired < self.count


@dataclass
class Call:
    at: float
    service: str
    operation: str
    fault: str
    forwarded: bool
    status: int
    token_sha256: str = ""


@dataclass
class FaultState:
    """The rules and what happened; shared by the proxy's threads under one lock."""

    rules: list[FaultRule] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    def set_rules(self, rules: list[dict]) -> None:
        parsed = [FaultRule(**{k: v for k, v in r.items() if k != "fired"}) for r in rules]
        with self.lock:
            self.rules = parsed

    def pick(self, service: str, operation: str) -> FaultRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(service, operation) and self.rng.random() < rule.rate:
                    rule.fired += 1
                    return rule
        return None

    def record(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)
            del self.calls[:-MAX_CALLS_KEPT]

    def as_json(self) -> dict:
        with self.lock:
            counts: dict[str, dict[str, int]] = {}
            for c in self.calls:
                key = f"{c.service}.{c.operation}"
                row = counts.setdefault(key, {"calls": 0, "forwarded": 0, "injected": 0})
                row["calls"] += 1
                row["forwarded"] += int(c.forwarded)
                row["injected"] += int(bool(c.fault))
            return {"rules": [asdict(r) for r in self.rules], "counts": counts}


def identify(headers, body: bytes, query: str) -> tuple[str, str]:
    """(service, operation) of a request, as AWS routes it."""
    target = headers.get("X-Amz-Target", "")
    if target and "." in target:
        prefix, operation = target.rsplit(".", 1)
        service = TARGET_PREFIXES.get(prefix.split("_")[0], "")
        if service:
            return service, operation
    service = ""
    match = _CREDENTIAL_SCOPE.search(headers.get("Authorization", ""))
    if match:
        service = SIGNING_NAMES.get(match.group(2), match.group(2))
    operation = ""
    params = urllib.parse.parse_qs(query)
    if not params.get("Action") and "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if params.get("Action"):
        operation = params["Action"][0]
    if target and not operation:
        operation = target.rsplit(".", 1)[-1]
    return service, operation


def _token_sha256(body: bytes) -> str:
    """A short fingerprint of the task token a call carries (never the token itself)."""
    try:
        token = json.loads(body or b"{}").get("taskToken")
    except (ValueError, AttributeError):
        return ""
    return hashlib.sha256(token.encode()).hexdigest()[:16] if isinstance(token, str) else ""


def error_response(*, service: str, fault: str, headers, code: str = "") -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the error AWS would send, in the service's protocol."""
    request_id = str(uuid.uuid4())
    if fault == "throttle":
        if service == "s3":
            status, code = 503, code or "SlowDown"
        elif service == "dynamodb":
            status, code = 400, code or "ProvisionedThroughputExceededException"
        else:
            status = 400
            json_protocol = bool(headers.get("X-Amz-Target"))
            code = code or ("ThrottlingException" if json_protocol else "Throttling")
        message = "Rate exceeded"
    else:
        status = 503 if code in ("ServiceUnavailable", "ServiceUnavailableException", "SlowDown") else 500
        code = code or ("InternalError" if service == "s3" else "InternalFailure")
        message = "The request processing has failed because of an unknown error, exception or failure."
    if headers.get("X-Amz-Target"):
        type_ = f"com.amazonaws.dynamodb.v20120810#{code}" if service == "dynamodb" else code
        body = json.dumps({"__type": type_, "message": message}).encode()
        content_type = headers.get("Content-Type") or "application/x-amz-json-1.0"
        return status, {"Content-Type": content_type, "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}, body
    if service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    else:
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format, *args):  # noqa: A002 - quiet; the calls list is the log
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drop(self, seconds: float) -> None:
        """Hold the connection, then close it without an answer."""
        time.sleep(seconds)
        self.close_connection = True

    def _control(self, body: bytes) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        try:
            if path == CONTROL_PATH and self.command == "PUT":
                state.set_rules(json.loads(body or b"{}").get("rules", []))
            elif path == CONTROL_PATH and self.command == "DELETE":
                state.set_rules([])
            elif path == f"{CONTROL_PATH}/calls" and self.command == "DELETE":
                with state.lock:
                    state.calls.clear()
            elif path == f"{CONTROL_PATH}/calls" and self.command == "GET":
                with state.lock:
                    calls = [asdict(c) for c in state.calls]
                return self._send(200, {"Content-Type": "application/json"}, json.dumps({"calls": calls}).encode())
            elif not (path == CONTROL_PATH and self.command == "GET"):
                return self._send(404, {"Content-Type": "application/json"}, b'{"error": "no such control path"}')
        except (ValueError, TypeError) as exc:
            return self._send(400, {"Content-Type": "application/json"}, json.dumps({"error": str(exc)}).encode())
        self._send(200, {"Content-Type": "application/json"}, json.dumps(state.as_json()).encode())

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def _handle(self) -> None:
        body = self._body()
        if urllib.parse.urlsplit(self.path).path.startswith(CONTROL_PATH):
            return self._control(body)
        query = urllib.parse.urlsplit(self.path).query
        service, operation = identify(self.headers, body, query)
        if self.path.startswith("/moto-api"):
            service, operation = "moto-api", ""
        rule = self.server.state.pick(service, operation) if service != "moto-api" else None
        token = _token_sha256(body) if service == "stepfunctions" else ""
        fault = rule.fault if rule else ""

        def record(forwarded: bool, status: int) -> None:
            self.server.state.record(Call(time.time(), service, operation, fault, forwarded, status, token))

        if rule and rule.fault in ("throttle", "error5xx"):
            status, headers, payload = error_response(
                service=service, fault=rule.fault, headers=self.headers, code=rule.code
            )
            record(False, status)
            return self._send(status, headers, payload)
        if rule and rule.fault == "timeout":
            record(False, 0)
            return self._drop(rule.seconds)
        if rule and rule.fault == "latency":
            time.sleep(rule.seconds)
        try:
            status, headers, payload = self._forward(body)
        except OSError:
            record(False, 0)
            return self._send(502, {"Content-Type": "text/plain"}, b"sandbox AWS unreachable behind the fault proxy")
        record(True, status)
        if rule and rule.fault == "lost_response":
            return self._drop(rule.seconds)
        self._send(status, headers, payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, upstream: str, state: FaultState):
        super().__init__(address, _Handler)
        self.upstream = urllib.parse.urlsplit(upstream)
        self.state = state


class FaultProxy:
    """The proxy in a background thread: ``FaultProxy(upstream=moto_url).start()``."""

    def __init__(self, *, upstream: str, host: str = "127.0.0.1", port: int = 0):
        self.state = FaultState()
        self._server = _ProxyServer((host, port), upstream.rstrip("/"), self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the control client (tests, the management command) ---------------------------------------


def _request(method: str, url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"{}")


def faults_set(proxy_url: str, *rules: dict) -> dict:
    """Replace the proxy's rules, e.g. ``faults_set(url, {"service": "stepfunctions", "fault": "throttle"})``."""
    return _request("PUT", f"{proxy_url}{CONTROL_PATH}", {"rules": list(rules)})


def faults_clear(proxy_url: str) -> dict:
    return _request("DELETE", f"{proxy_url}{CONTROL_PATH}")


def faults_show(proxy_url: str) -> dict:
    return _request("GET", f"{proxy_url}{CONTROL_PATH}")


def calls_list(proxy_url: str) -> list[dict]:
    return _request("GET", f"{proxy_url}{CONTROL_PATH}/calls")["calls"]


def calls_clear(proxy_url: str) -> None:
    _request("DELETE", f"{proxy_url}{CONTROL_PATH}/calls")
