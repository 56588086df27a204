"""The signed contract's formats: the ISO 19794-7 pen record, the biometric seal, the PAdES PDF."""
