"""A local endpoint (infra/moto_server.py's middleware around moto) on a free port, in-process."""

from __future__ import annotations

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import moto_server  # noqa: E402  (applies the patches)
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

class QuietHandler(MotoRequestHandler):
    def log_request(self, *_args, **_kwargs) -> None:  # type: ignore[no-untyped-def]
        pass


_SERVER = None
_LOCK = threading.Lock()


def endpoint() -> tuple[str, moto_server.LocalAws]:
    """The URL of the shared in-process endpoint (started on first use) and its middleware."""
    global _SERVER
    with _LOCK:
        if _SERVER is None:
            app = moto_server.LocalAws(DomainDispatcherApplication(create_backend_app))
            server = make_server(
                "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
            )
            threading.Thread(target=server.serve_forever, daemon=True).start()
            _SERVER = (f"http://127.0.0.1:{server.server_port}", app)
        return _SERVER


def client(service: str, key: str = "testing"):  # type: ignore[no-untyped-def]
    url, _app = endpoint()
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
