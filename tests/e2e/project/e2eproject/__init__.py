"""A small Channels-1-style project for the end-to-end tests: the same code runs on Django 2.2 +
Channels 1.1.8 (legacy venv) and on Django 5.2 + channels-classic."""
