"""The pure session machines: the consultation's call lifecycle and the customer's journey."""
