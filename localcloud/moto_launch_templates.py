"""moto's CreateLaunchTemplateVersion made to answer as EC2 does for the two parameters the launcher relies on.

moto (5.2) ignores both:

- `SourceVersion`: on AWS, "the new version inherits the same launch parameters as the source version, except
  for parameters that you specify in LaunchTemplateData" (EC2 API reference, CreateLaunchTemplateVersion). moto
  stores only the LaunchTemplateData given, so a version made from DRS's default lost its image, instance type,
  tags... Here the source version's parameters are the base and each top-level parameter of LaunchTemplateData
  replaces its own (a NetworkInterfaces list replaces the source's whole list, as on AWS).
- `ClientToken`: on AWS a repeated request with the same token returns the version the first one created, and
  one with the same token but other parameters fails with IdempotentParameterMismatch (EC2 API reference,
  "Ensuring idempotency"). moto created a new version each time.

`install()` replaces moto's response method (idempotent; `uninstall()` puts moto's back, for the tests that show
the difference). The local cloud installs it when it starts.
"""

from __future__ import annotations

import json
from typing import Any

_ORIGINAL: dict[str, Any] = {}
_TOKENS = "_drs_orch_client_tokens"  # on each moto LaunchTemplate: ClientToken -> (version number, request)


def _template(response: Any) -> Any:
    template_id = response._get_param("LaunchTemplateId")
    if template_id:
        return response.ec2_backend.get_launch_template(template_id)
    return response.ec2_backend.get_launch_template_by_name(response._get_param("LaunchTemplateName"))


def create_launch_template_version(self: Any) -> Any:
    """CreateLaunchTemplateVersion with SourceVersion and ClientToken (moto's response class method)."""
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError

    template = _template(self)
    data = self._get_param("LaunchTemplateData", {})
    description = self._get_param("VersionDescription")
    source = self._get_param("SourceVersion")
    token = self._get_param("ClientToken")
    self.error_on_dryrun()
    tokens: dict[str, tuple[int, str]] = template.__dict__.setdefault(_TOKENS, {})
    request = json.dumps([source, description, data], sort_keys=True, default=str)
    if token and token in tokens:
        number, first = tokens[token]
        if request != first:
            raise EC2ClientError(
                "IdempotentParameterMismatch",
                f"The client token {token} was used before with different parameters.",
            )
        version = template.get_version(number)
    else:
        if source is not None:
            data = {**template.get_version(source).data, **data}
        version = template.create_version(data, description)
        if token:
            tokens[token] = (version.number, request)
    return ActionResult(
        {
            "LaunchTemplateVersion": {
                "CreateTime": version.create_time,
                "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                "DefaultVersion": template.is_default(version),
                "LaunchTemplateData": version.data,
                "LaunchTemplateId": template.id,
                "LaunchTemplateName": template.name,
                "VersionDescription": version.description,
                "VersionNumber": version.number,
            }
        }
    )


def install() -> None:
    from moto.ec2.responses.launch_templates import LaunchTemplates

    if not _ORIGINAL:
        _ORIGINAL["method"] = LaunchTemplates.create_launch_template_version
    LaunchTemplates.create_launch_template_version = create_launch_template_version  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.ec2.responses.launch_templates import LaunchTemplates

    if _ORIGINAL:
        LaunchTemplates.create_launch_template_version = _ORIGINAL.pop("method")  # type: ignore[method-assign]
