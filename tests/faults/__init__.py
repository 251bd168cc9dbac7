"""The fault suite: real Redis, interface-server and worker processes, broken on purpose (docs/reliability.md)."""
