"""People, user groups, devices, group assignments and per-user licenses: the desired state."""
