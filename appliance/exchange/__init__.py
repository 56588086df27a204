"""Files, scans, photos and screen share in a call: the service, its state, sealed transfers."""
