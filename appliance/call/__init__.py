"""The call: aiortc peer connection, ICE settings, media tracks, the short authentication string."""
