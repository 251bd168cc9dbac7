"""``manage.py runserver``: this module *is* ``worker.management.commands.runserver``.

It replaces itself in ``sys.modules`` with the implementation module, so what 1.1.8 users' tests
patch here — ``...runserver.Command.server_cls``, ``...runserver.sys.stdout`` — is what the command
uses.
"""

import sys

from worker.management.commands import runserver as _implementation

sys.modules[__name__] = _implementation
