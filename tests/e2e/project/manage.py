#!/usr/bin/env python
"""manage.py of the end-to-end project (runs unchanged on Channels 1.1.8 and on channels-classic)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2eproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
