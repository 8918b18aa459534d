"""Start and stop the server: the pipeline thread, uvicorn in the foreground, everything closed on Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from rtdepth.estimator import DepthEstimator
from rtdepth.stream.visualize import Visualizer

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(source: str, open_estimator: Callable[[], DepthEstimator], viz: Visualizer, host: str = "127.0.0.1",
          port: int = 8000, token: str | None = None, max_upload_mb: int = 50, max_video_seconds: float = 60.0,
          console: Console | None = None) -> None:  # fmt: skip
    """Serve until Ctrl-C or SIGTERM; the camera is released and uploads removed before returning."""
    import uvicorn

    from .app import create_app
    from .live import LiveService
    from .uploads import Limits

    console = console or Console(stderr=True)
    if host not in LOCAL_HOSTS:
        console.print(f"[yellow]warning: listening on {host}: anyone who can reach this machine can watch"
                      f"{'' if token else ' (set --token to require one)'}[/]")  # fmt: skip
    service = LiveService(source, open_estimator(), viz)  # a bad source or weights fail here, before listening
    app = create_app(service, open_estimator, token, Limits(max_upload_mb * 2**20, max_video_seconds))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    service.start()
    shown = f"http://{'[' + host + ']' if ':' in host else host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"serving {service.estimator.describe()} from {source} at {shown} (Ctrl-C stops)", soft_wrap=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    if service.error:
        console.print(f"[yellow]pipeline stopped early: {service.error}[/]")
    console.print("stopped: camera released, uploads removed")
