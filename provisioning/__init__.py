"""Device identity: enrolment with a one-time code, certificates, the signed hello.

Shared by kiosk and hub (it imports neither): ``codes`` (one-time codes and the QR code's
URI), ``profile`` (the certificate profile), ``challenge`` (the signed hello and call binding).
The kiosk's side: ``identity`` (its key and certificate on disk), ``est_client`` (EST over
HTTP) and ``enrolment`` (enrolment and renewal step by step). See docs/enrolment.md.
"""
