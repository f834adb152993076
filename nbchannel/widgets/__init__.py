"""Live widgets: plots, images, logs, tables, values and controls fed by channels.

::

    from nbchannel.widgets import Button, LivePlot

    plot = LivePlot(series=["loss", "acc"], window=2_000)
    stop = Button("Stop")
    display(plot, stop)
    for step in range(1_000_000):
        plot.append(step, loss=..., acc=...)   # never blocks, never floods the browser
        if stop.clicked:                        # true the moment the user clicks, mid-cell
            break
"""

from .base import LiveWidget
from .controls import Button, Dropdown, Slider, TextInput, Toggle
from .custom import CustomView
from .image import LiveImage
from .plot import LivePlot
from .table import LiveTable
from .text import LiveLog, LiveText
from .value import LiveValue

__all__ = [
    "Button",
    "CustomView",
    "Dropdown",
    "LiveImage",
    "LiveLog",
    "LivePlot",
    "LiveTable",
    "LiveText",
    "LiveValue",
    "LiveWidget",
    "Slider",
    "TextInput",
    "Toggle",
]
