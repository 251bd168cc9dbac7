"""Management commands of the ``channels`` app: runworker, runserver, rundelay."""
