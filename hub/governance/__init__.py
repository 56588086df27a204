"""What the tenant's administrator and data-protection officer need, free of I/O.

Conversation references, statistics from the roll-ups, their CSV export, the retention
settings explained, the subject-access document, and the purger loop that applies retention.
"""
