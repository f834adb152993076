"""Real components for tests, benchmarks and scripts.

* :class:`JupyterServer` — a real Jupyter server (``jupyter server`` or ``jupyter lab``) in a
  subprocess on ``127.0.0.1`` and a free port, its state in a private temporary directory;
* :class:`KernelSession` — a real kernel started by that server, with code execution;
* :class:`Viewer` — a Python client speaking the browser protocol over the WebSocket.
"""

from .server import JupyterServer, KernelSession
from .viewer import Viewer

__all__ = ["JupyterServer", "KernelSession", "Viewer"]
