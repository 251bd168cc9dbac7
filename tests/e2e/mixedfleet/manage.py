#!/usr/bin/env python
"""manage.py of the mixed-fleet project (runs unchanged on Channels 1.1.8 / Django 2.2 and on channels-classic)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mixedfleet.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
