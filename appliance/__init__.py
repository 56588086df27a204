"""The kiosk appliance: configuration, hub client, call (aiortc), consultation state machine.

``appliance.__main__`` is the composition root: the only place that picks real or simulated
drivers.
"""
