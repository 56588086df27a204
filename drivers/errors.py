"""Errors of every driver, in terms a technician can act on.

Backends translate their library's exceptions into these, so the appliance never has to know
whether a camera is a Pi camera, a V4L2 device or a simulator.
"""

from __future__ import annotations


class DriverError(Exception):
    """A device could not do what was asked. ``device`` names it for the technician."""

    def __init__(self, message: str, *, device: str = "") -> None:
        super().__init__(f"{device}: {message}" if device else message)
        self.device = device


class DeviceNotFound(DriverError):
    """The device is not connected, or the OS does not see it (check the cable and dmesg)."""


class DeviceBusy(DriverError):
    """Another process holds the device (stop it, or reboot the kiosk)."""


class DeviceGone(DriverError):
    """The device disappeared while in use (cable pulled, USB reset)."""


class DriverTimeout(DriverError):
    """The device did not deliver in time (overloaded bus, failing hardware)."""


class DeviceNotStarted(DriverError):
    """A frame was requested before ``start()`` or after ``stop()``: a bug in the caller."""


class UnsupportedSetting(DriverError, ValueError):
    """A setting the device cannot use (size, rate...); the message names it and the limits."""


class BackendUnavailable(DriverError):
    """The library or tool a backend needs is not installed; the message names what to install."""


class DeviceProtocolError(DriverError):
    """The device answered with data we cannot understand (wrong baud rate or wrong device)."""


class NoDocuments(DriverError):
    """The scanner has no paper: the feeder is empty or the lid has nothing under it."""


class ScanCancelled(DriverError):
    """The scan was cancelled before it finished; pages already delivered stay delivered."""
