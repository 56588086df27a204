"""The call: aiortc peer connection, ICE settings, media tracks, liveness, and the adviser's
verification (the short authentication string)."""
