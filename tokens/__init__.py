"""VPP tokens: upload, parse, encryption at rest, expiry, and the client-context claim."""
