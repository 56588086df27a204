"""Kiosk user interface (pygame): renders view models and reports intents.

It knows nothing of aiortc, the drivers or ``appliance``, which wires it (``appliance.ui.bridge``).
The view models and intents are in ``kiosk_ui.viewmodels``; see docs/ui.md.
"""
