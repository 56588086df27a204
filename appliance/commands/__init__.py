"""One-shot commands for technicians and systemd: wipe, self-test."""
