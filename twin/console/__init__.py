"""The operator console: a Textual terminal app that is a pure OPC UA client of a twin.

:mod:`twin.console.link` holds the OPC UA side (connect, retry, one subscription, method calls);
:mod:`twin.console.app` the Textual app; :mod:`twin.console.screens` and
:mod:`twin.console.widgets` the views; layout and colours live in ``console.tcss``. The console
holds no twin logic: what it shows comes from the server's variables, events and methods.
"""
