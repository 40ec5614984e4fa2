"""The project's own SSM documents (infra/ssm_documents/*.yaml), deployed under their file names: Command documents
(SSM_DOCUMENT steps) and Automation runbooks (`schemaVersion: "0.3"`, SSM_AUTOMATION steps).

They are the default script allow-list (context allowedSsmDocuments): a plan may name them without anything
else to deploy. The names are fixed (a plan names a document by name), so one account and Region holds one
copy: a second stack in the same account and Region, or documents of the same names created by hand, make
the deployment fail; then remove the hand-made ones, or set allowedSsmDocuments to your own documents.
"""

from __future__ import annotations

from typing import Any

import yaml
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.definitions import SSM_DOCUMENTS_DIR, project_ssm_documents


def document_content(name: str) -> dict[str, Any]:
    content = yaml.safe_load((SSM_DOCUMENTS_DIR / f"{name}.yaml").read_text())
    if not isinstance(content, dict):
        raise TypeError(f"infra/ssm_documents/{name}.yaml is not an SSM document (a YAML mapping)")
    return content


def document_type(content: dict[str, Any]) -> str:
    """`Automation` for a runbook (schemaVersion 0.3, the Automation schema), else `Command`."""
    return "Automation" if str(content.get("schemaVersion")) == "0.3" else "Command"


class ScriptDocuments(Construct):
    """One `AWS::SSM::Document` per file (Command, or Automation for a schema 0.3 runbook); an update publishes a new
    version of the same document."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.documents: dict[str, ssm.CfnDocument] = {
            name: ssm.CfnDocument(
                self,
                name.replace("-", ""),
                name=name,
                content=document_content(name),
                document_type=document_type(document_content(name)),
                document_format="JSON",
                update_method="NewVersion",
            )
            for name in project_ssm_documents()
        }
