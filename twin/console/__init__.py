"""The operator console: a Textual terminal app that is a pure OPC UA client of a twin.

:mod:`twin.console.link` holds the OPC UA side (connect, retry, one subscription, method calls,
browsing the channels, history), :mod:`twin.console.records` the plain records it reports;
:mod:`twin.console.app` the Textual app, :mod:`twin.console.control` its commands (roles,
forms, confirmations, answers); :mod:`twin.console.screens` (Overview, Alarms) and
``screens_plant`` (Power, Thermal), ``screens_compute``, ``screens_boards``,
``screens_events``, ``screens_trends``, ``screens_scenarios`` and ``screens_replay``, the
dialogs in ``screens_dialogs``, with :mod:`twin.console.widgets`, the views; layout and
colours live in ``console.tcss``. :mod:`twin.console.cli` is ``twin console`` and the console
half of ``twin up`` (its login from the state directory's kept credentials). The console
holds no twin logic: what it shows comes from the server's variables, events and methods.
"""
