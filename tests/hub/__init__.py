"""Tests of the hub (server, auth, queue, signalling, storage, CLI)."""
