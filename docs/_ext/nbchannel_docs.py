"""Sphinx helpers for nbchannel's documentation.

* ``.. nbchannel-traits:: nbchannel.server.app.NbChannel`` lists the configurable traits a
  class defines itself (not those it inherits), each as a ``confval`` entry named
  ``c.<Class>.<trait>`` with its type, default and help, read from the class at build time.
* Widgets are documented with ``:inherited-members:`` so that members defined on nbchannel's
  own private base classes (``disabled``, ``value``, ``on_change`` …) show on each public
  class; members inherited from ipywidgets, anywidget and traitlets are left out.
* Every name in the ``__all__`` of the modules listed in ``nbchannel_public_modules`` must be
  documented somewhere in the site (under that name or another one, e.g. the module that
  defines it); a name left out is a warning, so ``sphinx-build -W`` fails on it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.inspect import signature as sphinx_signature
from sphinx.util.inspect import stringify_signature
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

_RST_SPECIAL = "\\`*_|[]<>"


def _escape(text: str) -> str:
    """``text`` as literal RST: inline markup characters lose their meaning."""
    return "".join("\\" + ch if ch in _RST_SPECIAL else ch for ch in text)


def _import(path: str) -> Any:
    """The object named by a dotted ``path`` (``package.module.Class``)."""
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


_TRAIT_TYPES = {"Int": "int", "Float": "float", "Bool": "bool", "Unicode": "str"}


def _trait_type(trait: Any) -> str:
    values = getattr(trait, "values", None)
    if values:
        return "one of " + ", ".join(f"``{v!r}``" for v in values)
    kind = type(trait).__name__
    return f"``{_TRAIT_TYPES.get(kind, kind)}``"


def _trait_default(trait: Any) -> str:
    value = trait.default()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"``{value:_}``"  # 16_777_216 reads better than 16777216
    return f"``{value!r}``"


def _in_mib(name: str, value: Any) -> str:
    """`` (32 MiB)`` after a byte count that is a whole number of MiB or KiB."""
    if not name.endswith("_bytes") or not isinstance(value, int) or value <= 0:
        return ""
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if value % size == 0:
            return f" ({value // size} {unit})"
    return ""


class TraitsDirective(SphinxDirective):
    """``.. nbchannel-traits:: dotted.path.Class`` — one ``confval`` per own config trait."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"prefix": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        cls = _import(self.arguments[0])
        prefix = self.options.get("prefix", f"c.{cls.__name__}.")
        traits = cls.class_own_traits(config=True)
        if not traits:
            raise self.error(f"{self.arguments[0]} defines no configurable traits")
        # In the order the class defines them (a dict keeps it), not alphabetically.
        order = [name for name in vars(cls) if name in traits]
        summary = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :class: nbchannel-traits",
            "",
            "   * - Option",
            "     - Type",
            "     - Default",
        ]
        entries: list[str] = []
        for name in order:
            trait = traits[name]
            default = _trait_default(trait) + _in_mib(name, trait.default())
            help_text = " ".join(inspect.cleandoc(trait.help or "").split())
            if not help_text:
                logger.warning(
                    "%s.%s has no help text", cls.__name__, name, location=self.get_location()
                )
            summary += [
                f"   * - :confval:`{prefix}{name}`",
                f"     - {_trait_type(trait)}",
                f"     - {default}",
            ]
            entries += [
                f".. confval:: {prefix}{name}",
                "",
                f"   {_trait_type(trait)}, default {default}.",
                "",
                f"   {_escape(help_text)}",
                "",
            ]
        lines = [*summary, "", *entries]
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=self.arguments[0]), container)
        return list(container.children)


def _defining_module(obj: Any) -> str | None:
    """The module that defines a class member, where the member says so."""
    for candidate in (
        getattr(obj, "fget", None),  # property
        getattr(obj, "__func__", None),  # classmethod, staticmethod
        getattr(obj, "this_class", None),  # traitlets TraitType: the class that holds it
        obj,
    ):
        module = getattr(candidate, "__module__", None) if candidate is not None else None
        if isinstance(module, str) and (candidate is not obj or callable(obj)):
            return module
    return None


def skip_foreign_members(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """Leave out class members defined outside nbchannel (ipywidgets, traitlets …)."""
    if what != "class" or skip:
        return None
    module = _defining_module(obj)
    if module is not None and module.split(".")[0] != "nbchannel":
        return True
    return None


def init_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    """Show a widget's ``__init__`` parameters, not traitlets' ``__new__(*args, **kwargs)``."""
    if what not in ("class", "exception") or not inspect.isclass(obj):
        return None
    init = obj.__dict__.get("__init__") or next(
        (c.__dict__["__init__"] for c in obj.__mro__ if "__init__" in c.__dict__), None
    )
    if init is None or not getattr(init, "__module__", "").startswith("nbchannel"):
        return None
    if signature is not None and "*args" not in signature:
        return None
    sig = sphinx_signature(init, bound_method=True)
    return stringify_signature(
        sig, show_return_annotation=False, unqualified_typehints=True
    ), return_annotation


def check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about names in a public module's ``__all__`` that no page documents."""
    documented: set[int] = set()
    for fullname in env.domains.python_domain.objects:
        module_name, _, attr = fullname.rpartition(".")
        try:
            documented.add(id(getattr(importlib.import_module(module_name), attr)))
        except (ImportError, AttributeError, ValueError):
            continue  # a member (Class.method) or a module: not a public name itself
    for module_name in app.config.nbchannel_public_modules:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("__"):
                continue  # __version__
            if id(getattr(module, name)) not in documented:
                logger.warning(
                    "%s.%s is public (in __all__) but no page of the API reference documents "
                    "it; add it to docs/api/",
                    module_name,
                    name,
                )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("nbchannel_public_modules", [], "env", types=[list])
    app.add_object_type(
        "confval",
        "confval",
        objname="configuration value",
        indextemplate="pair: %s; configuration value",
    )
    app.add_directive("nbchannel-traits", TraitsDirective)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("autodoc-process-signature", init_signature)
    app.connect("env-check-consistency", check_public_names)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
