#!/usr/bin/env python
"""manage.py of the legacy_echo Channels 1 project (runs in the legacy virtualenv: Channels 1.1.8, Django 2.2)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_echo.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
