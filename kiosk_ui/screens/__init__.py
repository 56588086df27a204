"""One module per screen (or family of screens); each builds a screen's widgets from its view.

``kiosk_ui.layout`` picks the builder for ``view.screen`` and puts the header above it.
"""
