"""``manage.py runworker``, ``runserver`` and ``rundelay`` (implemented in ``worker``)."""
