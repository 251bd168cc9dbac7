"""The full-stack benchmark: the same Django project (bench/fullstack/project) served by every system.

Scenario modules (each ``run(ctx) -> list[Table]``, registered in bench/__main__.py, selectable with
``python -m bench --only fullstack.http`` or ``python -m bench fullstack``): http, websocket,
broadcast, avalanche, streaming, rollout. bench/fullstack/systems.py starts and stops the systems.
"""
