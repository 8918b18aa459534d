"""Start and stop the server: the pipeline thread, uvicorn in the foreground, everything closed on Ctrl-C."""

from __future__ import annotations

import contextlib
import secrets
import signal
from collections.abc import Callable

from rich.console import Console

from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.stopping import stop_requests
from rtdepth.stream.visualize import Visualizer

from .guard import TOKEN_PATTERN, allowed_hosts

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(source: str, open_estimator: Callable[[], DepthEstimator], viz: Visualizer, host: str = "127.0.0.1",
          port: int = 8000, token: str | None = None, max_upload_mb: int = 50, max_video_seconds: float = 60.0,
          console: Console | None = None, smooth: bool = True, still_multi_size: bool = False) -> None:  # fmt: skip
    """Serve until Ctrl-C or SIGTERM; the camera is released and uploads removed before returning.
    ``still_multi_size``: uploaded photos are also predicted at a second size (``--multi-size``)."""
    import uvicorn

    from .app import create_app
    from .live import LiveService
    from .uploads import Limits

    console = console or Console(stderr=True)
    token = access_token(host, token, console.print)
    service = LiveService(source, open_estimator(), viz, smooth=smooth)  # a bad source or weights fail here, before listening
    limits = Limits(max_upload_mb * 2**20, max_video_seconds)
    app = create_app(service, open_estimator, token, limits, hosts=allowed_hosts(host), still_multi_size=still_multi_size)
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    service.start()
    shown = f"http://{'[' + host + ']' if ':' in host else host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"serving {service.estimator.describe()} from {source} at {shown} (Ctrl-C stops)", soft_wrap=True)
    try:
        server.run()
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass
    finally:
        service.stop()
    if service.error:
        console.print(f"[yellow]pipeline stopped early: {service.error}[/]")
    how = {signal.SIGINT: " (Ctrl-C)", signal.SIGTERM: " (SIGTERM)"}.get(server.stopped_by, "")
    console.print(f"stopped{how}: camera released, uploads removed")


def access_token(host: str, token: str | None, say=print) -> str | None:
    """The token requests must carry: the one given (letters, digits and ``._~-``), or off localhost a random
    one (as notebook servers do), said once; None on localhost without ``--token``."""
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        raise RtdepthError("--token may use letters, digits and . _ ~ - only (1-256 characters)")
    if host not in LOCAL_HOSTS and token is None:
        token = secrets.token_urlsafe(18)
        say(f"listening on {host}: a token was generated; open the URL below (it carries the token)")
    return token


def _make_server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopped by Ctrl-C or SIGTERM like any service: a graceful shutdown, then a normal
        return (uvicorn would re-raise the signal afterwards, killing the process before the camera is released)."""

        stopped_by: int | None = None

        @contextlib.contextmanager
        def capture_signals(self):
            def shut_down(sig: int) -> None:
                self.stopped_by = sig
                self.handle_exit(sig, None)

            with stop_requests(on_first=shut_down):  # a second signal raises, caught in serve()
                yield

    return Server


def _Server(config):  # noqa: N802 - builds the class on first use so uvicorn is imported only when serving
    return _make_server_class()(config)
