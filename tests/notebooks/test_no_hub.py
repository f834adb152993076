"""The example notebooks run top to bottom where no hub exists (nbclient, no server).

The kernel then serves its widgets over their comms itself (nbchannel.kernel.comm); no
front end opens them here, so nothing is viewed, but every cell must run without an
error, and what the kernel says on stderr must be nbchannel's notes of the degraded mode.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ..conftest import own_kernel_config
from .test_notebooks import NOTEBOOKS, _ids

STATUS_CELL = (
    "from nbchannel.kernel.transport import default_transport\n"
    "t = default_transport()\n"
    "print('transport:', t.stats()['transport'], t.status)"
)


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_without_a_hub_with_no_error(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(STATUS_CELL))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBCHANNEL_")}
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        config=own_kernel_config(),
    )
    start = time.monotonic()
    client.execute(env=env)  # raises CellExecutionError on an error
    print(f"{path.name} without a hub: {time.monotonic() - start:.1f} s")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    for line in stderr.splitlines():
        # a warning's two lines: "file:line: NbChannelWarning: ..." and the source line
        assert "NbChannelWarning" in line or not line.strip() or line.startswith(" "), stderr
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    uses_widgets = '"from nbchannel.widgets' in path.read_text()
    if uses_widgets:
        assert "transport: kernel (comm) connected" in last, last
    else:
        assert "transport: kernel (comm)" in last, last
