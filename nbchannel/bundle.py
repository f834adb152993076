"""The widget JavaScript shipped in the package, and the small loader widgets carry instead.

``static/widgets.js`` (built from ``js/src/index.js``) is the widget code: 300 KB. A widget's
``_esm`` is ``static/loader.js`` (built from ``js/src/loader.js``, about 1 KB) with the
bundle's hash in it; the loader fetches the bundle once per page from the Jupyter server
(``{base_url}nbchannel/widgets.js?h=HASH``, served only when the server's bundle has that
hash), or else from the kernel over the widget's comm. So the bundle never crosses IOPub
with every widget nor sits in every saved notebook.

No third-party imports: the kernel and the server both read this.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

__all__ = ["HASH_MARK", "MissingBundle", "bundle_bytes", "bundle_hash", "loader_source"]

#: The placeholder in ``static/loader.js`` that the bundle's hash replaces.
HASH_MARK = "__NBCHANNEL_BUNDLE_HASH__"
BUILD_HINT = (
    "build it with `npm --prefix js ci && npm --prefix js run build` (node needed), or "
    "install nbchannel from a wheel"
)


class MissingBundle(FileNotFoundError):
    """The package was installed without its built JavaScript."""


def _static(name: str) -> Path:
    return Path(str(resources.files("nbchannel"))) / "static" / name


@functools.cache
def bundle_bytes() -> bytes:
    """The widget code (``static/widgets.js``); raises :class:`MissingBundle` without it."""
    try:
        return _static("widgets.js").read_bytes()
    except OSError as exc:
        raise MissingBundle(f"nbchannel/static/widgets.js is missing: {BUILD_HINT}") from exc


@functools.cache
def bundle_hash() -> str:
    """A short hash of the widget code: which bundle a loader asks for."""
    return hashlib.sha256(bundle_bytes()).hexdigest()[:16]


@functools.cache
def loader_source() -> str:
    """The widgets' ``_esm``: the loader with this bundle's hash in it."""
    try:
        text = _static("loader.js").read_text(encoding="utf-8")
    except OSError as exc:
        raise MissingBundle(f"nbchannel/static/loader.js is missing: {BUILD_HINT}") from exc
    return text.replace(HASH_MARK, bundle_hash())
