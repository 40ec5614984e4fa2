"""A stand-in for the operator's Lambda Function URL (AuthType AWS_IAM) on 127.0.0.1, in front of the local
cloud's operator function: what `drs-orch ... --aws --operator-url` talks to in the tests.

Like Lambda, it authenticates every request before the function sees it: the `Authorization` header must be
a SigV4 signature (AWS4-HMAC-SHA256) for the service `lambda` in its region, by an access key it knows,
over the request as received (method, path, the signed headers, the body's SHA-256), made less than five
minutes ago. It recomputes the signature with the key's secret (botocore's own SigV4 code) and compares. A
request that fails any of that is answered 403 `{"Message": "Forbidden"}`, as a Function URL answers, and
the function is not invoked. A good one is handed to the operator function as the Function URL event, with
the identity the key belongs to in `requestContext.authorizer.iam` (`localcloud.operators.url_request`).

What this cannot prove is AWS's own behaviour: that Lambda accepts botocore's signature for a Function URL
and fills in `userArn` as documented. Only a deployed stack can show that.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.cloud import LocalCloud
from localcloud.operators import url_request

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<headers>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Identity:
    """An access key's secret and the ARN AWS would authenticate for it."""

    secret: str
    arn: str


@dataclass
class FunctionUrl:
    cloud: LocalCloud
    identities: dict[str, Identity]
    region: str = "us-east-1"
    url: str = ""
    forbidden: int = 0  # requests refused before the function
    invoked: list[dict[str, Any]] = field(default_factory=list)  # the events the function was given

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Identity | None:
        """The identity of a validly signed request, else None."""
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if match is None or match["service"] != "lambda" or match["region"] != self.region:
            return None
        identity = self.identities.get(match["key"])
        amz_date = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        if identity is None or abs(datetime.now(UTC) - signed_at) > MAX_SKEW or amz_date[:8] != match["date"]:
            return None
        signed = match["headers"].split(";")
        request = AWSRequest(
            method=method,
            url=f"http://{headers.get('host', '')}{path}",
            data=body,
            headers={name: headers[name] for name in signed if name in headers},
        )
        request.context["timestamp"] = amz_date
        token = headers.get("x-amz-security-token")
        auth = SigV4Auth(Credentials(match["key"], identity.secret, token), "lambda", self.region)
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        return identity if hmac.compare_digest(expected, match["signature"]) else None

    def serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        identity = self.authenticate(method, path, headers, body)
        if identity is None:
            self.forbidden += 1
            return 403, json.dumps({"Message": "Forbidden"}).encode()
        event = url_request(json.loads(body or b"{}"), identity.arn)
        self.invoked.append(event)
        response = self.cloud.lambdas.invoke("operator", event)
        return int(response["statusCode"]), str(response["body"]).encode()


@contextmanager
def function_url(
    cloud: LocalCloud, identities: dict[str, Identity], region: str = "us-east-1"
) -> Iterator[FunctionUrl]:
    """Serve a FunctionUrl on a free port of 127.0.0.1 while the block runs; `.url` is its address."""
    front = FunctionUrl(cloud, identities, region)
    lock = threading.Lock()  # one request at a time, like the local cloud itself

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with lock:
                status, payload = front.serve(self.command, self.path, headers, body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    front.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield front
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
