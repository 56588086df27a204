"""The kiosk process's shell: the Kiosk runner, the hub client, device construction."""
