"""The hub: adviser console server, auth, queue and signalling relay (aiohttp, SQLite)."""
