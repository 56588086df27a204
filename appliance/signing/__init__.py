"""The kiosk's signature desk: a signature request from the adviser to a signed PDF."""
