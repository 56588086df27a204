"""Custody of session data: the encrypted RAM vault, the verified wipe, the tmpfs mount."""
