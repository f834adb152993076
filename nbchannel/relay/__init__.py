"""Hub-wide channels: ``LiveChannel(name, scope="hub")``, served by a relay.

A relay (``python -m nbchannel.relay``) runs the same core :class:`~nbchannel.core.hub.Hub`
and wire protocol as the Jupyter server extension, for channels shared by every user of a
JupyterHub (or of any set of Jupyter servers that can reach it). Kernels connect to it over
a WebSocket with a token (``JUPYTERHUB_API_TOKEN`` under JupyterHub); browsers with
JupyterHub OAuth. Several relays share their channels through Redis
(:mod:`nbchannel.relay.engine`); one relay needs no broker.

This package's ``__init__`` and :mod:`~nbchannel.relay.wire` import nothing heavy: kernels
import them. The server side lives in :mod:`~nbchannel.relay.app`.
"""
