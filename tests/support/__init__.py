"""What several test modules share: no test module imports another (pyproject.toml's contract).

A real hub in-process (``hub``), the aiortc adviser peer (``adviser``) and the console's steps
to take a kiosk's call (``call``), the console-in-Chromium scene (``console_scene``), pages and
fixtures for the UI and the browser (``sdl``, ``ui_harness``, ``blank_page``), and the rule for
tools a machine lacks (``requirements``, ``netns``, ``mounts``, ``coturn``). What the benchmarks
and the demo need too lives in testbed/.
"""
