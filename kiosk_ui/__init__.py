"""Kiosk user interface (pygame): renders view models and reports intents.

Placeholder package: the pygame UI arrives with its own issue. It will know nothing of aiortc
or the drivers; ``appliance`` wires it.
"""
