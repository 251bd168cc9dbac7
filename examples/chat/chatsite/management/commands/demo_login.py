"""``manage.py demo_login NAME [--password P]``: create (or reset) a login for trying the example."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand


class Command(BaseCommand):
    help = "Create a user with the given name (or reset its password) and print the login."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="default: a new random password")

    def handle(self, *args, **options):
        password = options["password"] or secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        user.set_password(password)
        user.save()
        self.stdout.write(f"login: {user.username} / {password}")
