"""The bridge between the kiosk runner and the touch UI's journey."""
