"""Browser and multi-process journeys: the real console in Chromium, processes, the demo."""
