"""The HTTP side of ``rtdepth serve``: a Starlette app over a ``LiveService`` and the upload jobs.

MJPEG over HTTP (multipart/x-mixed-replace) carries the live view: every browser shows it in a plain
``<img>``, it needs no signalling server or STUN, and on a LAN its latency is one frame; WebRTC would save
bandwidth on slow links at the cost of an encoder per viewer and a much larger dependency set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator

from .live import LiveService
from .uploads import Limits, VideoJobs, depth_png16, image_depth, png

PAGE = Path(__file__).with_name("page.html")
BOUNDARY = "rtdepthframe"


def create_app(service: LiveService, open_estimator: Callable[[], DepthEstimator], token: str | None = None,
               limits: Limits | None = None) -> Starlette:  # fmt: skip
    """The app; ``open_estimator`` makes a second estimator for uploads (the live one stays on its thread):
    videos keep its streaming setting, still images are flip-averaged."""
    limits = limits or Limits()
    state: dict = {}

    def upload_estimator() -> DepthEstimator:
        if "estimator" not in state:
            state["estimator"] = open_estimator()
        return state["estimator"]

    def still_estimator() -> DepthEstimator:
        if "still" not in state:  # a photo gets the better estimate, as `rtdepth image` does
            state["still"] = upload_estimator().with_flip(True)
        return state["still"]

    def jobs() -> VideoJobs:
        if "jobs" not in state:
            state["jobs"] = VideoJobs(upload_estimator(), limits)
        return state["jobs"]

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def page(request: Request) -> Response:
        return FileResponse(PAGE, media_type="text/html")

    async def stream(request: Request) -> Response:
        limit = _int(request.query_params.get("frames"))

        async def frames():
            seq, sent = 0, 0
            while limit is None or sent < limit:
                item = await asyncio.to_thread(service.wait_newer, seq, 1.0)
                if item is None:
                    if not service.running:
                        return
                    continue
                seq, sent = item.seq, sent + 1
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(item.jpeg)}\r\n\r\n").encode()
                yield item.jpeg + b"\r\n"

        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    async def stats(request: Request) -> Response:
        e = service.estimator
        return JSONResponse({"fps": round(service.fps, 2), "latency_ms": round(service.latency_ms, 1), "running": service.running,
                             "error": service.error, "model": e.describe(), "controls": service.controls()})  # fmt: skip

    async def controls(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return error(400, "controls are a JSON object")
        rng = body.get("range", "keep")
        try:
            if rng not in ("keep", None):
                rng = (float(rng[0]), float(rng[1]))
            alpha = None if body.get("alpha") is None else float(body["alpha"])
            return JSONResponse(service.set_controls(body.get("colormap"), body.get("layout"), alpha, rng))
        except (RtdepthError, TypeError, ValueError, IndexError) as exc:
            return error(400, str(exc) or "bad control value")

    async def snapshot(request: Request) -> Response:
        item = service.latest()
        if item is None:
            return error(503, "no frame yet")
        kind = request.path_params["kind"]
        data = png(item.image) if kind == "colour" else depth_png16(item.depth)
        name = f"rtdepth-{item.seq:06d}-{kind}.png"
        return Response(data, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def read_upload(request: Request) -> tuple[bytes, str]:
        size = _int(request.headers.get("content-length"))
        if size is not None and size > limits.max_bytes:
            raise _TooLarge
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limits.max_bytes:
                raise _TooLarge
        if not data:
            raise RtdepthError("empty upload")
        return bytes(data), request.headers.get("content-type", "")

    async def upload_image(request: Request) -> Response:
        try:
            data, _ = await read_upload(request)
            with service.lock:
                viz = replace(service.viz)
            still = still_estimator()
            colour, depth = await asyncio.to_thread(image_depth, data, still, viz, limits)
        except _TooLarge:
            return error(413, f"upload larger than {limits.max_bytes // 2**20} MB")
        except RtdepthError as exc:
            return error(415 if "decode" in str(exc) else 400, str(exc))
        which = request.query_params.get("output", "colour")
        return Response(depth if which == "depth" else colour, media_type="image/png")

    async def upload_video(request: Request) -> Response:
        try:
            data, content_type = await read_upload(request)
            with service.lock:
                viz = replace(service.viz)
            job = await asyncio.to_thread(jobs().submit, data, content_type, viz)
        except _TooLarge:
            return error(413, f"upload larger than {limits.max_bytes // 2**20} MB")
        except RtdepthError as exc:
            status = 409 if "already" in str(exc) else 415 if "decoded" in str(exc) else 400
            return error(status, str(exc))
        return JSONResponse(job.as_dict(), status_code=202)

    async def job_status(request: Request) -> Response:
        job = jobs().get(request.path_params["job"])
        return JSONResponse(job.as_dict()) if job else error(404, "no such job")

    async def job_result(request: Request) -> Response:
        job = jobs().get(request.path_params["job"])
        if job is None:
            return error(404, "no such job")
        if job.state != "done" or job.result is None:
            return error(409, f"job is {job.state}")
        return FileResponse(job.result, media_type="video/mp4", filename="rtdepth-depth.mp4")

    routes = [
        Route("/", page),
        Route("/stream.mjpg", stream),
        Route("/api/stats", stats),
        Route("/api/controls", controls, methods=["POST"]),
        Route("/api/snapshot/{kind:str}.png", snapshot),
        Route("/api/depth/image", upload_image, methods=["POST"]),
        Route("/api/depth/video", upload_video, methods=["POST"]),
        Route("/api/jobs/{job:str}", job_status),
        Route("/api/jobs/{job:str}/result.mp4", job_result),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if "jobs" in state:  # uploads and results are removed when the server stops
            state["jobs"].close()

    app = Starlette(routes=routes, lifespan=lifespan)
    if token:
        app.add_middleware(_TokenGate, token=token)
    app.state.uploads = lambda: state.get("jobs")
    return app


class _TooLarge(Exception):
    pass


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class _TokenGate:
    """Every request carries the token: ``?token=``, an ``Authorization: Bearer`` header, or the cookie the page sets."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = (request.query_params.get("token") or request.cookies.get("rtdepth_token")
                 or request.headers.get("authorization", "").removeprefix("Bearer ").strip())  # fmt: skip
        if not given or not secrets.compare_digest(given.encode(), self.token.encode()):
            return await JSONResponse({"error": "token required"}, status_code=401)(scope, receive, send)
        if request.query_params.get("token") and scope["path"] == "/":
            async def send_with_cookie(message) -> None:
                if message["type"] == "http.response.start":
                    cookie = f"rtdepth_token={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
                await send(message)

            return await self.app(scope, receive, send_with_cookie)
        return await self.app(scope, receive, send)
