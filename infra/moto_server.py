"""The local AWS endpoint: moto's server, handling one request at a time.

moto's DynamoDB is not safe under concurrent requests: TransactWriteItems snapshots a table to
roll back, so two transactions running at once can erase each other's writes. AWS is
linearizable per item; to keep that promise locally (tests race registrations on purpose),
every request takes one global lock. Connections are still accepted concurrently; SQS long
polling is not used by the local pumps (it would hold the lock).

Usage: moto_server.py -H 127.0.0.1 -p 4566
"""

import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class Serialized:
    """WSGI middleware: one request at a time, its whole response included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialise the body inside the lock: moto may build it lazily.
            return list(self.app(environ, start_response))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(
        args.host,
        args.port,
        Serialized(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
