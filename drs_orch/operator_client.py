"""The CLI's side of the operator endpoint: a command POSTed to the stack's Function URL, signed with SigV4.

The operator function behind the URL (AuthType AWS_IAM) learns who you are from the signature, not from the
command: `requestedBy` is left out and the function writes your verified ARN (an assumed role's session ARN,
`arn:aws:sts::<account>:assumed-role/<role>/<session>`, or your IAM user's). Your credentials are boto3's
(environment, profile, SSO, instance role), signed for the service `lambda` in the URL's region (botocore's
`SigV4Auth`), as https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html asks of AWS_IAM URLs. The
caller needs `lambda:InvokeFunctionUrl` (and, for URLs created since October 2025, `lambda:InvokeFunction`) on
the operator function: the stack grants both to its `publisherPrincipals`.

The URL is `--operator-url` (or `$DRS_ORCH_OPERATOR_URL`), else the stack output `OperatorUrl` of `--stack`
(CloudFormation DescribeStacks).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

URL_VARIABLE = "DRS_ORCH_OPERATOR_URL"
OUTPUT_KEY = "OperatorUrl"
SIGNING_SERVICE = "lambda"
TIMEOUT_SECONDS = 30
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?(/|$)")
_URL_REGION = re.compile(r"^https://[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws/?")


class OperatorUnavailable(RuntimeError):
    """No operator URL could be found, or it did not answer as the operator function does."""


@dataclass(frozen=True)
class OperatorResponse:
    """The HTTP answer: `status`, the JSON `body` (empty when it was not JSON), the raw `text`."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == 202

    @property
    def refused_by_the_function(self) -> bool:
        """The operator function itself refused the command (its JSON carries `error`); otherwise the answer
        is Lambda's or IAM's (an unsigned or unauthorized request: 403 with `Message`)."""
        return not self.accepted and "error" in self.body

    @property
    def reason(self) -> str:
        message = self.body.get("error") or self.body.get("Message") or self.body.get("message") or self.text
        return str(message).replace("\r", " ").replace("\n", " ")[:1000]


def region_of(url: str) -> str | None:
    """The region a Function URL lives in (`https://<id>.lambda-url.<region>.on.aws/`), or None."""
    match = _URL_REGION.match(url)
    return match.group(1) if match else None


def operator_url(given: str | None, *, stack: str, region: str | None) -> str:
    """`given`, else `$DRS_ORCH_OPERATOR_URL`, else the stack's `OperatorUrl` output. OperatorUnavailable when
    the URL is not one, or the stack has no such output."""
    url = given or os.environ.get(URL_VARIABLE)
    if url:
        if not url.startswith("https://") and not _LOOPBACK.match(url):
            raise OperatorUnavailable(
                f"the operator URL {url[:200]!r} is not an https URL (stack output OperatorUrl): a signed request "
                "sent in clear could be read and replayed within SigV4's five minutes (plain http only to this "
                "machine: 127.0.0.1 or localhost)"
            )
        return url
    import boto3

    stacks = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"]
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == OUTPUT_KEY:
            return str(output["OutputValue"])
    raise OperatorUnavailable(
        f"stack {stack} has no output {OUTPUT_KEY}: deploy the stack of this version, or pass --operator-url"
    )


def send(url: str, detail_type: str, detail: dict[str, Any], *, region: str | None) -> OperatorResponse:
    """POST `{"detailType", "detail"}` to the operator URL, signed with the caller's credentials (SigV4,
    service `lambda`, the URL's region unless `region` is given). Raises botocore's errors for missing
    credentials or region and an unreachable endpoint (the CLI reports them as AWS errors, exit 2)."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import NoCredentialsError, NoRegionError
    from botocore.httpsession import URLLib3Session

    session = boto3.session.Session(region_name=region)
    signing_region = region or region_of(url) or session.region_name
    if not signing_region:
        raise NoRegionError()
    credentials = session.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    body = json.dumps({"detailType": detail_type, "detail": detail}, separators=(",", ":")).encode("utf-8")
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), SIGNING_SERVICE, signing_region).add_auth(request)
    response = URLLib3Session(timeout=TIMEOUT_SECONDS).send(request.prepare())
    text = response.content.decode("utf-8", errors="replace")
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = {}
    return OperatorResponse(response.status_code, decoded if isinstance(decoded, dict) else {}, text)
