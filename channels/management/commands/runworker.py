"""``manage.py runworker``: this module *is* ``worker.management.commands.runworker``.

It replaces itself in ``sys.modules`` with the implementation module, so patching a name here
patches the one the command uses: ``mock.patch("channels.management.commands.runworker.Worker")``
— how 1.1.8 users test their ``runworker`` set-up — replaces the worker the command builds.
"""

import sys

from worker.management.commands import runworker as _implementation

sys.modules[__name__] = _implementation
