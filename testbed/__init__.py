"""The bed the tests, the benchmarks and the demo run on; not part of the product (not shipped).

- ``testbed.stack``: a real hub and a simulated kiosk as processes, started through the console
  scripts on loopback, and polling with a deadline;
- ``testbed.browser``: the adviser console in headless Debian Chromium (Playwright), with the
  measurement probe;
- ``testbed.netns``: loopback-only network namespaces and a child namespace whose link can be
  cut and healed.
- ``testbed.qemu`` (with ``testbed.qemu_disk``): the kiosk's disk image booted under QEMU, a
  test configuration on its boot partition, power cuts, and the guest's probe
  (``testbed.guest_probe``, installed into the image by ``image/hooks/customize.sh``; it runs
  in the guest with the system's python3).

It imports neither ``bench`` nor ``tests`` (pyproject.toml's import contracts): both use it.
"""
