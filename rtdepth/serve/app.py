"""The HTTP side of ``rtdepth serve``: a Starlette app over a ``LiveService`` and the upload jobs.

MJPEG over HTTP (multipart/x-mixed-replace) carries the live view: every browser shows it in a plain
``<img>``, it needs no signalling server or STUN, and on a LAN its latency is one frame; WebRTC would save
bandwidth on slow links at the cost of an encoder per viewer and a much larger dependency set.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator

from .guard import LOCAL_NAMES, RequestGuard
from .live import LiveService, parse_controls
from .uploads import Limits, UploadError, VideoJobs, depth_png16, image_depth, png

PAGE = Path(__file__).with_name("page.html")
BOUNDARY = "rtdepthframe"
MAX_CONTROLS_BYTES = 4096
SNAPSHOTS = ("colour", "depth")


def create_app(service: LiveService, open_estimator: Callable[[], DepthEstimator], token: str | None = None,
               limits: Limits | None = None, hosts: tuple[str, ...] = LOCAL_NAMES, still_multi_size: bool = False
               ) -> Starlette:  # fmt: skip
    """The app; ``open_estimator`` makes a second estimator for uploads (the live one stays on its thread):
    videos keep its streaming setting, still images are flip-averaged (and with ``still_multi_size`` also
    predicted at a second size, as ``rtdepth image --multi-size``). ``hosts`` are the names the ``Host`` header
    may carry (DNS rebinding); an empty tuple accepts any (a token then guards)."""
    api = DepthApi(service, open_estimator, limits or Limits(), still_multi_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        api.close()  # uploads and results are removed when the server stops

    app = Starlette(routes=api.routes(), lifespan=lifespan)
    if token:
        app.add_middleware(_TokenGate, token=token)
    app.add_middleware(RequestGuard, hosts=hosts)  # outermost: a foreign Host or Origin never reaches a route
    app.state.uploads = api.started_jobs
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class DepthApi:
    """The routes over one live service. The upload estimators and the video jobs are made on first use, once."""

    def __init__(self, service: LiveService, open_estimator: Callable[[], DepthEstimator], limits: Limits,
                 still_multi_size: bool = False) -> None:  # fmt: skip
        self.service, self.open_estimator, self.limits = service, open_estimator, limits
        self.still_multi_size = still_multi_size
        self.uploads = asyncio.Semaphore(limits.concurrent_uploads)
        self._made: dict[str, object] = {}
        self._making = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page),
            Route("/stream.mjpg", self.stream),
            Route("/api/stats", self.stats),
            Route("/api/controls", self.controls, methods=["POST"]),
            Route("/api/snapshot/{kind:str}.png", self.snapshot),
            Route("/api/depth/image", self.upload_image, methods=["POST"]),
            Route("/api/depth/video", self.upload_video, methods=["POST"]),
            Route("/api/jobs/{job:str}", self.job_status),
            Route("/api/jobs/{job:str}/result.mp4", self.job_result),
        ]

    def _once(self, name: str, make: Callable[[], object]):
        with self._making:  # two first uploads at once must not open two models
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def upload_estimator(self) -> DepthEstimator:
        return self._once("estimator", self.open_estimator)

    def still_estimator(self) -> DepthEstimator:
        """A photo gets the better estimate, as ``rtdepth image`` does."""
        estimator = self.upload_estimator()
        return self._once("still", lambda: estimator.with_flip(True, self.still_multi_size))

    def jobs(self) -> VideoJobs:
        estimator = self.upload_estimator()
        return self._once("jobs", lambda: VideoJobs(estimator, self.limits))

    def started_jobs(self) -> VideoJobs | None:
        return self._made.get("jobs")

    def close(self) -> None:
        if (jobs := self.started_jobs()) is not None:
            jobs.close()

    async def page(self, request: Request) -> Response:
        return FileResponse(PAGE, media_type="text/html")

    async def stream(self, request: Request) -> Response:
        limit, service = _int(request.query_params.get("frames")), self.service

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

    async def stats(self, request: Request) -> Response:
        s = self.service
        return JSONResponse({"fps": round(s.fps, 2), "latency_ms": round(s.latency_ms, 1), "running": s.running,
                             "error": s.error, "model": s.estimator.describe(), "controls": s.controls()})  # fmt: skip

    async def controls(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error(415, "controls are sent as application/json")
        try:
            raw = await _read_body(request, MAX_CONTROLS_BYTES)
        except _TooLarge:
            return _error(413, f"controls larger than {MAX_CONTROLS_BYTES} bytes")
        try:
            changes = parse_controls(raw)
            return JSONResponse(self.service.set_controls(**changes))  # all checked before anything is applied
        except RtdepthError as exc:
            return _error(400, str(exc) or "bad control value")

    async def snapshot(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in SNAPSHOTS:
            return _error(404, "snapshots are colour.png and depth.png")
        item = self.service.latest()
        if item is None:
            return _error(503, "no frame yet")
        data = png(item.image) if kind == "colour" else depth_png16(item.depth)
        name = f"rtdepth-{item.seq:06d}-{kind}.png"
        return Response(data, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def _read_upload(self, request: Request) -> tuple[bytes, str]:
        """The uploaded file: the raw body (Content-Type names it) or the first file of a multipart form."""
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() == "multipart/form-data":
            return await _multipart_file(request, self.limits.max_bytes)
        data = await _read_body(request, self.limits.max_bytes)
        if not data:
            raise UploadError("empty upload")
        return data, content_type

    async def _handle_upload(self, request: Request, work) -> Response:
        if self.uploads.locked():
            return _error(429, "too many uploads at once; try again shortly")
        async with self.uploads:
            try:
                return await work(*await self._read_upload(request))
            except _TooLarge:
                return _error(413, f"upload larger than {self.limits.max_bytes // 2**20} MB")
            except UploadError as exc:
                return _error(exc.status, str(exc))
            except RtdepthError as exc:
                return _error(400, str(exc))

    async def upload_image(self, request: Request) -> Response:
        async def work(data: bytes, _: str) -> Response:
            colour, depth = await asyncio.to_thread(image_depth, data, self.still_estimator(), self.service.visualizer(),
                                                    self.limits)  # fmt: skip
            return Response(depth if request.query_params.get("output", "colour") == "depth" else colour,
                            media_type="image/png")  # fmt: skip

        return await self._handle_upload(request, work)

    async def upload_video(self, request: Request) -> Response:
        async def work(data: bytes, content_type: str) -> Response:
            job = await asyncio.to_thread(lambda: self.jobs().submit(data, content_type, self.service.visualizer()))
            return JSONResponse(job.as_dict(), status_code=202)

        return await self._handle_upload(request, work)

    async def job_status(self, request: Request) -> Response:
        job = self.jobs().get(request.path_params["job"])
        return JSONResponse(job.as_dict()) if job else _error(404, "no such job")

    async def job_result(self, request: Request) -> Response:
        job = self.jobs().get(request.path_params["job"])
        if job is None:
            return _error(404, "no such job")
        if job.state != "done" or job.result is None:
            return _error(409, f"job is {job.state}")
        return FileResponse(job.result, media_type="video/mp4", filename="rtdepth-depth.mp4")


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes as it arrives (a claimed length is checked first)."""
    size = _int(request.headers.get("content-length"))
    if size is not None and size > limit:
        raise _TooLarge
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise _TooLarge
    return bytes(data)


async def _multipart_file(request: Request, limit: int) -> tuple[bytes, str]:
    """``curl -F file=@x.jpg``: the first file field of a multipart form, with its own content type."""
    size = _int(request.headers.get("content-length"))
    if size is not None and size > limit + 64 * 1024:
        raise _TooLarge
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several types for bad forms
        raise UploadError(f"not a readable multipart form ({str(exc)[:80]})") from exc
    for value in form.values():
        if hasattr(value, "read"):
            data = await value.read()
            await form.close()
            if len(data) > limit:
                raise _TooLarge
            if not data:
                raise UploadError("empty upload")
            return data, value.content_type or ""
    await form.close()
    raise UploadError("the form has no file field (send one as file=@NAME)")


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
