"""The packages' roles hold in their imports: what ships to Lambda never imports the CLI or the local cloud,
handlers only call steps, and each role of orchestrator/ imports only the roles below it.

The imports are read from the source (`tests/import_graph.py`, with `ast`): a lazy import inside a function
or one under `if TYPE_CHECKING:` counts like any other.
"""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import imports_of, modules_of, our_modules, within

SHIPPED = ("orchestrator", "handlers")
NEVER_IMPORTED_BY_SHIPPED = ("drs_orch", "localcloud", "infra", "tests", "bench")

# What each role may import of this repository (third-party and standard-library imports are not checked).
ROLES: dict[str, tuple[str, ...]] = {
    "orchestrator.domain": ("events",),
    "orchestrator.adapters": ("events", "orchestrator.domain", "orchestrator.observability"),
    "orchestrator.steps": (
        "events",
        "orchestrator.domain",
        "orchestrator.adapters",
        "orchestrator.runtime",
        "orchestrator.config",
        "orchestrator.observability",
        "orchestrator.reporting",  # the archive step stores the execution report (issue #16)
    ),
    "orchestrator.reporting": ("events", "orchestrator.domain", "orchestrator.adapters"),
    "orchestrator.runtime": (
        "orchestrator.domain",
        "orchestrator.adapters",
        "orchestrator.config",
        "orchestrator.observability",
    ),
    "orchestrator.config": (),
    "orchestrator.observability": (),
    "handlers": (
        "events",
        "orchestrator.steps",
        "orchestrator.adapters",
        "orchestrator.runtime",
        "orchestrator.observability",
    ),
}


def _role(module: str) -> str | None:
    return next((role for role in sorted(ROLES, key=len, reverse=True) if within(module, [role])), None)


def _forbidden_imports(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} imports {imported}"
        for package in packages
        for name, path in modules_of(package).items()
        for imported in imports_of(path)
        if within(imported, forbidden)
    )


def test_nothing_shipped_to_lambda_imports_the_cli_the_local_cloud_or_infra() -> None:
    # GIVEN every module of orchestrator/ and handlers/
    # WHEN their imports are read
    # THEN none names drs_orch, localcloud, infra, tests or bench
    assert _forbidden_imports(SHIPPED, NEVER_IMPORTED_BY_SHIPPED) == []


def test_each_role_imports_only_the_roles_below_it() -> None:
    # GIVEN every module of orchestrator/ and handlers/, and the modules of this repository
    ours = our_modules()
    assert [role for role in ROLES if not any(within(name, [role]) for name in ours)] == []  # no rule is vacuous
    violations: list[str] = []
    for package in SHIPPED:
        for name, path in modules_of(package).items():
            role = _role(name)
            if role is None:
                assert name == "orchestrator", f"{name} has no role in ROLES"
                continue
            # WHEN its imports of this repository are read
            for imported in sorted(imports_of(path)):
                if imported not in ours or within(imported, [role]):
                    continue
                # THEN each is a role this one may use
                if not within(imported, ROLES[role]):
                    violations.append(f"{name} ({role}) imports {imported}")
    assert violations == []


def test_an_import_anywhere_in_a_module_is_seen(tmp_path: Path) -> None:
    # GIVEN a module importing the local cloud lazily, under TYPE_CHECKING, and by `from x import module`
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from localcloud.cloud import LocalCloud\n"
        "def run():\n    import drs_orch.app\n    from orchestrator import reporting\n    return drs_orch\n",
        encoding="utf-8",
    )
    # WHEN its imports are read
    found = imports_of(module)
    # THEN every one of them is there
    assert {"localcloud.cloud", "drs_orch.app", "orchestrator.reporting"} <= found
    assert within("localcloud.cloud", ["localcloud"])
    assert not within("localcloud_x", ["localcloud"])
