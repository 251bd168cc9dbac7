from setuptools import find_packages, setup

setup(
    name="channels-classic",
    version="0.1.0",
    description="The Channels 1 worker architecture (interface servers + runworker pools over a Redis "
    "channel layer) for modern Python and Django.",
    long_description=open("README.md", encoding="utf8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["channellayer*", "interfaceserver*", "worker*", "channels*"]),
    # Data files are listed here, one glob each, and nothing else is picked up (no
    # include_package_data): lua/ and static/ are data folders, not packages.
    package_data={
        "channellayer": ["py.typed", "lua/*.lua"],
        "interfaceserver": ["py.typed"],
        "worker": ["py.typed"],
        # The app of INSTALLED_APPS = ["channels"]: staticfiles finds channels/js/websocketbridge.js here.
        "channels": ["static/channels/js/*.js"],
    },
    include_package_data=False,
    license_files=["LICENSE"],
    install_requires=[
        "redis>=5.0,<9",
        # The interface server's Redis path parses replies with hiredis itself (channellayer/redis_async.py).
        "hiredis>=2.0",
        "msgpack>=1.0,<2",
        "Django>=4.2,<6.2",
        # Upper bounds: the newest major tested (Twisted 26.10.0, autobahn 26.11.1); raise them after testing.
        "Twisted[tls]>=23.8,<27",
        "autobahn>=23.1,<27",
        "click>=8.1",
        # /metrics of the interface server, the workers and `python -m channellayer status` (docs/operations.md).
        "prometheus_client>=0.17",
    ],
    extras_require={
        "encryption": ["cryptography>=41"],
        # The redis-cluster backend needs nothing beyond redis-py; the extra exists so deployments can name it.
        "cluster": [],
        "rabbitmq": ["pika>=1.3"],
        "hiredis": [],  # kept so existing `pip install channels-classic[hiredis]` lines work; now a dependency
        "http2": ["Twisted[tls,http2]>=23.8,<27"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "pika>=1.3",  # tests/integration/test_layer_rabbitmq.py and the conformance suite on RabbitMQ
            "websocket-client>=1.7",
            "requests>=2.31",
            "gunicorn>=22",
            "cryptography>=41",
            "hiredis>=2.0",
            "supervisor>=4.2",
            "kubernetes-validate>=1.30",
            "PyYAML>=6",
            "six>=1.16",  # the Channels 1.1.8 suite (tests/compat/test_peer_suite.py) imports it
            "nox>=2024.3",
            "playwright>=1.40",  # drives Debian's chromium in tests/e2e/test_browser.py (no `playwright install`)
            "httptools>=0.6",  # tests/unit/test_is_http11.py: our parser refuses whatever llhttp refuses
            "coverage>=7.10",  # make test measures the suite; 7.10 brought [run] patch = ["subprocess"]
            "import-linter>=2.15",  # tests/unit/test_layering.py runs the layering contracts
        ],
        # import-linter: the layering contracts of [tool.importlinter] in pyproject.toml (lint-imports).
        "lint": ["ruff>=0.5", "mypy>=1.10", "import-linter>=2.15", "pre-commit>=3.5"],
        # The benchmark's PNG charts (bench/fullstack/charts.py); httptools for bench/parser_compare.py.
        "bench": ["matplotlib>=3.7", "httptools>=0.6", "py-spy>=0.3"],  # py-spy: bench.request_cost --flame
    },
    entry_points={
        "console_scripts": [
            "daphne=interfaceserver.cli:main",
            "interfaceserver=interfaceserver.cli:main",
        ],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 4.2",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Framework :: Django :: 6.1",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
)
