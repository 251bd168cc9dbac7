"""``runworker`` (and the commands of the other worker modules)."""
