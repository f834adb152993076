"""Where no hub exists (plain nbclient, VS Code, Colab) a notebook still runs and says why."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from ..conftest import own_kernel_config


def test_a_notebook_runs_without_a_hub_and_explains_what_is_missing() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import warnings\n"
            "warnings.simplefilter('always')\n"
            "from nbchannel import LiveChannel\n"
            "ch = LiveChannel('offline')\n"
            "ch.set('title', 'still works locally')\n"
            "ch.append({'x': 1})\n"
            "print(ch.status, ch.get('title'), ch.stats['dropped'])"
        )
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBCHANNEL_")}
    NotebookClient(nb, timeout=60, kernel_name="python3", config=own_kernel_config()).execute(
        env=env
    )
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "unavailable still works locally 2" in text  # set and append: 2 not delivered
    assert "no live connection to a browser" in text
    assert "NBCHANNEL_ADDRESS is not set" in text
    assert "jupyter server extension list" in text
