"""``manage.py channels_status``: this module *is* ``worker.management.commands.channels_status``."""

import sys

from worker.management.commands import channels_status as _implementation

sys.modules[__name__] = _implementation
