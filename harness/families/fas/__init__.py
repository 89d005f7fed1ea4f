"""Face anti-spoofing family (MMDG benchmark)."""
