"""Enrolment at the hub: the hub secret, tenant CAs, one-time codes, EST, the certificate hello.

docs/enrolment.md ("Hub side") has the profile, the endpoints and the threat model.
"""
