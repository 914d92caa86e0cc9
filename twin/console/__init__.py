"""The operator console: a Textual terminal app that is a pure OPC UA client of a twin.

:mod:`twin.console.link` holds the OPC UA side (connect, retry, one subscription, method calls,
browsing the channels, history), :mod:`twin.console.records` the plain records it reports;
:mod:`twin.console.app` the Textual app;
:mod:`twin.console.screens` (Overview, Alarms, dialogs) and ``screens_plant`` (Power, Thermal),
``screens_compute``, ``screens_boards``, ``screens_events``, ``screens_trends`` and
``screens_replay``, with :mod:`twin.console.widgets`, the views; layout and colours live in
``console.tcss``. The console holds no twin logic: what it shows comes from the server's
variables, events and methods.
"""
