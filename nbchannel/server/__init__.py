"""The Jupyter server side: the extension app, the kernel listener and the browser handlers."""
