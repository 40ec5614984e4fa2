"""The Jinja2 environment of the read side's pages and drawings (the HTML evidence report, the dependency graph):
templates in `orchestrator/reporting/templates/` (package data), every `{{ value }}` autoescaped.

Everything a template prints goes through `_finalize` first: text becomes `inert` (the characters a viewer would
act on instead of showing, `orchestrator.domain.untrusted`, become U+FFFD; an HTML page is read by people who may
copy from it), then autoescape turns `<`, `>`, `&`, `"` and `'` into entities. None prints as an em dash, so a
missing value is visible as missing. Only `Markup` (the SVG drawings, which escape their own text) is printed
as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from jinja2 import BaseLoader, ChoiceLoader, Environment, PackageLoader, StrictUndefined
from jinja2.filters import do_join
from jinja2.nodes import EvalContext
from jinja2.utils import pass_eval_context
from markupsafe import Markup

from orchestrator.domain.untrusted import inert

MISSING = "\u2014"  # what None prints as


def _finalize(value: object) -> object:
    if value is None:
        return MISSING
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return inert(value)


@pass_eval_context
def _join(context: EvalContext, values: Iterable[object], separator: str = "") -> Markup | str:
    """Jinja's `join`, its items made inert first (`join` returns Markup, which `_finalize` leaves as it is)."""
    joined: Markup | str = do_join(context, (_finalize(v) for v in values), separator)
    return joined


@cache
def environment() -> Environment:
    """The one environment (templates are compiled once per process): autoescape on for every template (all are
    HTML or SVG), undefined names raise (a template bug fails loudly instead of printing nothing)."""
    return _environment(PackageLoader("orchestrator.reporting", "templates"))


@cache
def page_environment(package: str) -> Environment:
    """An environment for the pages of `package` (a dotted package name with a `templates/` folder: the dashboard,
    `drs_orch.ui`), with this module's templates behind its own, so a page can include the parts it shares with the
    evidence report (`wave.html.j2`, `graph.svg.j2`); the same escaping and strictness as `environment()`."""
    return _environment(
        ChoiceLoader([PackageLoader(package, "templates"), PackageLoader("orchestrator.reporting", "templates")])
    )


def _environment(loader: BaseLoader) -> Environment:
    env = Environment(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["join"] = _join
    return env
