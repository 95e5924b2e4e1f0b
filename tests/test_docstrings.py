"""Every public class and function has a numpydoc ``Examples`` section (issue 6).

The examples themselves run as doctests (``--doctest-modules`` in pyproject.toml, over
``deepclust/``); this test makes sure that none goes missing. Public means:

* every name in an ``autosummary`` list of ``docs/api.rst``;
* the ``__all__`` of ``deepclust`` and of every public subpackage and module;
* in a public module without ``__all__``, every class and function it defines whose name
  does not start with an underscore.

A module is public when no part of its dotted name starts with an underscore. Only classes
and functions are checked (not methods, and not data such as ``SCORERS``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import deepclust

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"

# "Examples" underlined with dashes (numpydoc), then at least one doctest prompt.
_EXAMPLES = re.compile(r"^Examples\n-{8,}\n(?:.*\n)*?>>> ", re.MULTILINE)


def _is_checked(obj) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj)


def _public_modules() -> list[str]:
    names = ["deepclust"]
    for info in pkgutil.walk_packages(deepclust.__path__, "deepclust."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _module_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        exported = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_") and _is_checked(obj) and obj.__module__ == module_name
        ]
    return [f"{module_name}.{name}" for name in exported]


def _api_rst_names() -> list[str]:
    """Dotted names listed under ``.. autosummary::`` in docs/api.rst."""
    names: list[str] = []
    module = "deepclust"
    in_list = False
    for line in API_RST.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            module = stripped.split("::", 1)[1].strip()
            in_list = False
        elif stripped.startswith(".. autosummary::"):
            in_list = True
        elif in_list and stripped and not line.startswith(" "):
            in_list = False
        elif in_list and stripped and not stripped.startswith(":"):
            names.append(f"{module}.{stripped}")
    return names


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _public_api() -> dict[str, object]:
    dotted = [name for module in _public_modules() for name in _module_names(module)]
    if API_RST.exists():
        dotted += _api_rst_names()
    api: dict[str, object] = {}
    seen: set[int] = set()
    for name in dotted:
        obj = _resolve(name)
        if _is_checked(obj) and id(obj) not in seen:
            seen.add(id(obj))
            api[name] = obj
    return api


def test_public_api_is_found():
    api = _public_api()
    # A sanity floor, so that a broken walk cannot pass by checking nothing.
    assert len(api) >= 60, sorted(api)
    for name in ("deepclust.DRCClustering", "deepclust.training.callbacks.Checkpoint", "deepclust.nn.backbones.SmallCNN"):
        assert name in api


@pytest.mark.skipif(not API_RST.exists(), reason="docs/api.rst is not in this checkout")
def test_api_reference_names_resolve():
    names = _api_rst_names()
    assert "deepclust.DRCClustering" in names
    for name in names:
        _resolve(name)  # raises for a stale entry


def test_every_public_class_and_function_has_examples():
    missing = [
        name
        for name, obj in sorted(_public_api().items())
        if not _EXAMPLES.search(inspect.cleandoc(obj.__doc__ or ""))
    ]
    assert not missing, (
        f"{len(missing)} public classes/functions have no numpydoc 'Examples' section with a "
        "doctest (>>>):\n  " + "\n  ".join(missing)
    )
