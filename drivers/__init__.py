"""Device drivers: one port (``typing.Protocol``) per device class, backends and simulators.

Drivers know nothing of sessions, the UI or the network; their failures are translated into
the :class:`drivers.errors.DriverError` tree.
"""
