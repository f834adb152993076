"""Exporting notebooks whose nbchannel widgets' state was saved: show their snapshots.

nbconvert's HTML exporter draws an output's widget-view, over every other format it
carries, whenever the notebook's metadata holds that widget's model state (nbclient and
``jupyter nbconvert --execute`` save it by default: ``store_widget_state=True``). It
then loads ``@jupyter-widgets/html-manager`` from a CDN to draw the widget from that
state. An nbchannel widget's model holds no content (the data lived on its channel, in
a kernel that is gone), so the page would show an empty view online, and nothing at all
offline or where scripts do not run. The static snapshot in the same output (an image,
a table, the log's text: :mod:`nbchannel.widgets.snapshot`) is what the widget showed.

Nothing in the kernel can keep the client from saving the state, so the export leaves
it out: :class:`LiveWidgetSnapshots` removes the saved state of nbchannel widgets' models
(told apart by the ``nbchannel`` key in their outputs' metadata), and only theirs, so
the exporter shows their snapshots and still draws every other widget::

    jupyter nbconvert --to html \\
        --HTMLExporter.preprocessors=nbchannel.widgets.export.LiveWidgetSnapshots nb.ipynb

or, in Python, ``drop_live_widget_state(nb)`` before exporting.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from .snapshot import SNAPSHOT_METADATA

__all__ = ["LiveWidgetSnapshots", "drop_live_widget_state"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def live_model_ids(nb: NotebookNode) -> set[str]:
    """The model ids of the nbchannel widgets whose outputs ``nb`` holds."""
    ids: set[str] = set()
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and SNAPSHOT_METADATA in out.get("metadata", {}):
                ids.add(view.get("model_id", ""))
    return ids


def drop_live_widget_state(nb: NotebookNode) -> int:
    """Remove the saved model state of ``nb``'s nbchannel widgets (in place), and of the
    models only they refer to (their layouts); return how many widgets' models went. The
    whole widget-state entry goes when nothing is left in it, so the export loads no
    widget manager for nothing."""
    widgets = nb.get("metadata", {}).get("widgets")
    if not widgets or WIDGET_STATE not in widgets:
        return 0
    state: dict[str, Any] = widgets[WIDGET_STATE].get("state", {})
    gone = live_model_ids(nb) & state.keys()
    # with them, the models only they refer to (each widget's layout: "IPY_MODEL_<id>")
    theirs = {r for m in gone for r in _references(state[m])}
    for model_id in gone:
        del state[model_id]
    still = {r for m in state.values() for r in _references(m)}
    for model_id in (theirs - still) & state.keys():
        del state[model_id]
    if not state:
        del widgets[WIDGET_STATE]
        if not widgets:
            del nb.metadata["widgets"]
    return len(gone)


def _references(model: Any) -> set[str]:
    """The ids of the models a saved model's state refers to (``"IPY_MODEL_<id>"``)."""
    found: set[str] = set()
    stack = [model.get("state", {}) if isinstance(model, dict) else model]
    while stack:
        value = stack.pop()
        if isinstance(value, str) and value.startswith("IPY_MODEL_"):
            found.add(value[len("IPY_MODEL_") :])
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


class LiveWidgetSnapshots(Preprocessor):
    """An nbconvert preprocessor: nbchannel widgets' outputs export as their snapshots
    (see the module's docstring)."""

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Drop nbchannel widgets' saved state from ``nb``; the cells are left as they are."""
        drop_live_widget_state(nb)
        return nb, resources
