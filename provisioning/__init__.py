"""Device identity, enrolment with a one-time code, decommissioning (the technician's commands).

Until provisioning brings device certificates, a kiosk authenticates with a device token that
`kiosk-hub device add NAME` issues (the hub stores only its hash).
"""
