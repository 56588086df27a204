"""Tests of the OS image: booted under QEMU (amd64) and the arm64 root file system."""
