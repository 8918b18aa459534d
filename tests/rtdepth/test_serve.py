"""``rtdepth serve``: the HTTP API through the ASGI test client, and the page in a real headless browser."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import av
import cv2
import numpy as np
import pytest
from helpers import make_clip, tum_rgb

from rtdepth.estimator import DepthEstimator
from rtdepth.serve.app import BOUNDARY, create_app
from rtdepth.serve.live import LiveService
from rtdepth.serve.uploads import Limits
from rtdepth.stream.depth_io import depth_to_mm16
from rtdepth.stream.visualize import Visualizer

starlette_testclient = pytest.importorskip("starlette.testclient")


@pytest.fixture()
def service(real_clip, tiny_weights):
    svc = LiveService(str(real_clip), DepthEstimator.from_weights(tiny_weights, "torch", "cpu"), Visualizer()).start()
    yield svc
    svc.stop()
    assert not svc.running


def client_for(service, tiny_weights, **kw):
    app = create_app(service, lambda: DepthEstimator.from_weights(tiny_weights, "torch", "cpu"), **kw)
    return starlette_testclient.TestClient(app, base_url="http://127.0.0.1:8000")


def jpeg_parts(body: bytes) -> list[np.ndarray]:
    parts = []
    for chunk in body.split(f"--{BOUNDARY}".encode())[1:]:
        payload = chunk.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
        parts.append(cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR))
    return parts


def test_stream_yields_new_jpeg_frames(service, tiny_weights):
    with client_for(service, tiny_weights) as client:
        r = client.get("/stream.mjpg", params={"frames": 3})
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
        frames = jpeg_parts(r.content)
        assert len(frames) == 3 and all(f is not None and f.shape == (48, 64, 3) for f in frames)
        stats = client.get("/api/stats").json()
        assert stats["running"] and stats["fps"] > 0 and stats["controls"]["layout"] == "overlay"


def test_controls_change_the_next_frame_and_bad_values_are_400(service, tiny_weights):
    with client_for(service, tiny_weights) as client:
        r = client.post("/api/controls", json={"layout": "side-by-side", "colormap": "gray", "range": [0.5, 4.0]})
        assert r.status_code == 200
        assert r.json() == {"colormap": "gray", "layout": "side-by-side", "alpha": 0.6, "range": [0.5, 4.0]}
        seq = service.latest().seq if service.latest() else 0
        newer = service.wait_newer(seq + 1, timeout=10)  # a frame rendered entirely after the change
        assert newer is not None and newer.image.shape == (48, 128, 3)
        right = newer.image[:, 64:]
        assert np.array_equal(right[..., 0], right[..., 2])  # gray colormap: equal channels
        for bad in ({"colormap": "nope"}, {"alpha": 2}, {"range": [5, 1]}, {"range": "x"}, [1, 2]):
            assert client.post("/api/controls", json=bad).status_code == 400
        assert client.post("/api/controls", json={"range": None}).json()["range"] is None


def test_snapshots_are_colour_and_16_bit_depth_pngs(service, tiny_weights):
    service.wait_newer(0, timeout=10)
    with client_for(service, tiny_weights) as client:
        colour = client.get("/api/snapshot/colour.png")
        depth = client.get("/api/snapshot/depth.png")
    assert colour.status_code == depth.status_code == 200 and "attachment" in colour.headers["content-disposition"]
    c = cv2.imdecode(np.frombuffer(colour.content, np.uint8), cv2.IMREAD_UNCHANGED)
    d = cv2.imdecode(np.frombuffer(depth.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert c.shape == (48, 64, 3) and d.shape == (48, 64) and d.dtype == np.uint16 and d.max() > 0


def test_uploads_of_an_image_and_a_short_clip(service, tiny_weights, tum_dir, tmp_path):
    image = tum_rgb(tum_dir, 3).read_bytes()
    clip = make_clip(tmp_path / "ten.mp4", [cv2.resize(cv2.imread(str(tum_rgb(tum_dir, i))), (64, 48)) for i in range(10)])
    with client_for(service, tiny_weights) as client:
        r = client.post("/api/depth/image", content=image, headers={"content-type": "image/jpeg"})
        assert r.status_code == 200 and cv2.imdecode(np.frombuffer(r.content, np.uint8), 1).shape == (240, 320, 3)
        r = client.post("/api/depth/image", params={"output": "depth"}, content=image)
        assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED).dtype == np.uint16
        job = client.post("/api/depth/video", content=clip.read_bytes(), headers={"content-type": "video/mp4"})
        assert job.status_code == 202
        job_id = job.json()["id"]
        deadline = time.monotonic() + 60
        while (state := client.get(f"/api/jobs/{job_id}").json())["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state["state"] == "done" and state["done"] == 10, state
        result = client.get(f"/api/jobs/{job_id}/result.mp4")
        assert result.status_code == 200
        out = tmp_path / "result.mp4"
        out.write_bytes(result.content)
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.name == "h264" and sum(1 for _ in c.decode(video=0)) == 10
        folder = client.app.state.uploads().folder
        assert folder.is_dir() and not list(folder.glob("*-in.*"))  # the upload is gone once processed
    assert not folder.exists()  # results too, when the server stops


def test_an_uploaded_image_is_flip_averaged_while_the_stream_is_not(service, tiny_weights, tum_dir):
    frame = cv2.imread(str(tum_rgb(tum_dir, 3)))
    streaming = DepthEstimator.from_weights(tiny_weights, "torch", "cpu", flip=False)  # as `serve` opens it
    app = create_app(service, lambda: streaming)
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1:8000") as client:
        r = client.post("/api/depth/image", params={"output": "depth"}, content=cv2.imencode(".png", frame)[1].tobytes())
    got = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert not streaming.flip  # the shared model is not switched for the stream
    assert np.array_equal(got, depth_to_mm16(streaming.with_flip(True).predict(frame)))
    assert not np.array_equal(got, depth_to_mm16(streaming.predict(frame)))


def test_serve_multi_size_reaches_uploaded_photos_and_never_the_stream(service, tiny_weights, tum_dir):
    frame = cv2.imread(str(tum_rgb(tum_dir, 3)))
    streaming = DepthEstimator.from_weights(tiny_weights, "torch", "cpu", flip=False)
    app = create_app(service, lambda: streaming, still_multi_size=True)
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1:8000") as client:
        r = client.post("/api/depth/image", params={"output": "depth"}, content=cv2.imencode(".png", frame)[1].tobytes())
    got = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert not streaming.multi_size and not streaming.flip  # the stream's estimator is untouched
    assert np.array_equal(got, depth_to_mm16(streaming.with_flip(True, multi_size=True).predict(frame)))
    assert not np.array_equal(got, depth_to_mm16(streaming.with_flip(True).predict(frame)))


def test_bad_uploads_are_4xx_and_the_server_keeps_serving(service, tiny_weights, real_clip):
    limits = Limits(max_bytes=200_000, max_seconds=0.3)
    with client_for(service, tiny_weights, limits=limits) as client:
        assert client.post("/api/depth/image", content=b"not an image").status_code == 415
        assert client.post("/api/depth/image", content=b"").status_code == 400
        assert client.post("/api/depth/image", content=b"x" * 300_000).status_code == 413
        truncated = real_clip.read_bytes()[:1500]
        assert client.post("/api/depth/video", content=truncated, headers={"content-type": "video/mp4"}).status_code == 415
        long_clip = client.post("/api/depth/video", content=real_clip.read_bytes(), headers={"content-type": "video/mp4"})
        assert long_clip.status_code == 400 and "longer" in long_clip.json()["error"]
        assert client.get("/api/jobs/../../etc/passwd").status_code == 404
        assert client.get("/api/stats").json()["running"]
        assert len(jpeg_parts(client.get("/stream.mjpg", params={"frames": 1}).content)) == 1


def test_token_is_required_on_every_request(service, tiny_weights):
    with client_for(service, tiny_weights, token="s3cret") as client:
        assert client.get("/api/stats").status_code == 401
        assert client.get("/api/stats", params={"token": "wrong"}).status_code == 401
        assert client.get("/api/stats", headers={"authorization": "Bearer s3cret"}).status_code == 200
        page = client.get("/", params={"token": "s3cret"})
        assert page.status_code == 200 and "rtdepth_token" in page.headers["set-cookie"]
        assert client.get("/api/stats").status_code == 200  # the cookie the page set


def _first_answer(proc, request, timeout: float, patience: float = 180.0) -> bytes | None:
    """The body of the first answer a starting ``rtdepth serve`` gives to ``request()`` (a new request each try),
    or None when it exits or ``patience`` runs out (start-up imports torch: slow on a busy machine)."""
    import urllib.request

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(request(), timeout=timeout) as r:
                return r.read()
        except OSError:
            time.sleep(0.3)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_page_in_a_headless_browser(service, tiny_weights, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    browser, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (browser and driver_path):
        pytest.skip("no chromium/chromedriver installed (Debian: apt-get install chromium chromium-driver)")
    import uvicorn
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    port = _free_port()
    app = create_app(service, lambda: DepthEstimator.from_weights(tiny_weights, "torch", "cpu"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,700"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=opts)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.execute_script("return document.getElementById('stream').naturalWidth") == 64)
        wait.until(lambda d: "FPS" in d.find_element(By.ID, "stats").text)
        first = driver.find_element(By.ID, "stats").text
        wait.until(lambda d: d.find_element(By.ID, "stats").text != first)  # the page keeps updating
        Select(driver.find_element(By.ID, "layout")).select_by_visible_text("side-by-side")
        wait.until(lambda d: d.execute_script("return document.getElementById('stream').naturalWidth") == 128)
        assert service.controls()["layout"] == "side-by-side"
        driver.save_screenshot(str(tmp_path / "page.png"))
        assert cv2.imread(str(tmp_path / "page.png")) is not None
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_serve_command_stops_cleanly_on_sigterm(real_clip, tiny_weights):
    import signal
    import subprocess
    import sys
    import urllib.request

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rtdepth", "serve", str(real_clip), "-w", str(tiny_weights), "-b", "torch",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        stats = _first_answer(proc, lambda: urllib.request.Request(f"http://127.0.0.1:{port}/api/stats"), timeout=2)
        assert stats is not None and b'"running":true' in stats
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopped (SIGTERM)" in err, err
    finally:
        proc.kill()  # never leave a server running when an assertion failed
        proc.communicate()


def test_serve_refuses_bad_options_before_starting(real_clip):
    import subprocess
    import sys

    for args in (["--port", "0"], ["--max-upload-mb", "0"], ["--colormap", "nope"]):
        r = subprocess.run([sys.executable, "-m", "rtdepth", "serve", str(real_clip), *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("error") == 1, r.stderr


# --- No web page drives the local server ---------------------------------------------------------------------


def test_a_foreign_host_header_is_refused(service, tiny_weights):
    service.wait_newer(0, timeout=10)
    with client_for(service, tiny_weights) as client:
        assert client.get("/api/snapshot/colour.png", headers={"host": "attacker.test"}).status_code == 421
        assert client.get("/api/snapshot/colour.png", headers={"host": "attacker.test:8000"}).status_code == 421
        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
            assert client.get("/api/snapshot/colour.png", headers={"host": host}).status_code == 200, host
    app = create_app(service, lambda: None, hosts=())  # bound to every interface: the token guards instead
    with starlette_testclient.TestClient(app, base_url="http://192.0.2.7:8000") as client:
        assert client.get("/api/stats").status_code == 200


def test_cross_origin_posts_are_refused_and_change_nothing(service, tiny_weights, tum_dir):
    with client_for(service, tiny_weights) as client:
        before = client.get("/api/stats").json()["controls"]
        evil = {"origin": "http://evil.example", "content-type": "text/plain"}
        assert client.post("/api/controls", content=b'{"layout": "depth"}', headers=evil).status_code == 403
        assert client.post("/api/depth/image", content=tum_rgb(tum_dir, 0).read_bytes(), headers=evil).status_code == 403
        site = {"sec-fetch-site": "cross-site", "content-type": "application/json"}
        assert client.post("/api/controls", content=b'{"layout": "depth"}', headers=site).status_code == 403
        plain = {"content-type": "text/plain"}  # same origin but not JSON: a form could send that
        assert client.post("/api/controls", content=b'{"layout": "depth"}', headers=plain).status_code == 415
        assert client.get("/api/stats").json()["controls"] == before
        same = {"origin": "http://127.0.0.1:8000", "content-type": "application/json"}
        assert client.post("/api/controls", content=b'{"layout": "depth"}', headers=same).status_code == 200


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 875_000


def test_a_huge_claimed_image_is_refused_from_its_header(service, tiny_weights, tmp_path):
    with client_for(service, tiny_weights) as client:
        t0 = time.monotonic()
        r = client.post("/api/depth/image", content=_png_header(30000, 30000), headers={"content-type": "image/png"})
        assert r.status_code == 400 and "too large" in r.json()["error"] and time.monotonic() - t0 < 2
    from helpers import run_cli

    jpeg = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = (65500).to_bytes(2, "big") * 2  # the frame header claims 65500 x 65500
    (tmp_path / "huge.jpg").write_bytes(bytes(jpeg))
    code, _, err = run_cli("image", tmp_path / "huge.jpg", "-o", tmp_path / "o.png", "-w", tiny_weights)
    assert code == 2 and "too large" in err and "cv2.error" not in err


def test_uploads_past_the_concurrency_bound_get_429(service, tiny_weights, tum_dir):
    real = DepthEstimator.from_weights(tiny_weights, "torch", "cpu")
    gate, busy = threading.Event(), threading.Event()

    class Held:  # the first upload is still being processed when the second comes
        def with_flip(self, flip, multi_size=None):
            return self

        def predict(self, frame):
            busy.set()
            gate.wait(10)
            return real.predict(frame)

    app = create_app(service, Held, limits=Limits(concurrent_uploads=1))
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1:8000") as client:
        results = {}
        image = tum_rgb(tum_dir, 0).read_bytes()
        first = threading.Thread(target=lambda: results.setdefault("a", client.post("/api/depth/image", content=image)))
        first.start()
        assert busy.wait(10)
        assert client.post("/api/depth/image", content=image).status_code == 429
        gate.set()
        first.join(timeout=30)
        assert results["a"].status_code == 200
        assert client.post("/api/depth/image", content=image).status_code == 200  # the bound frees again


def test_controls_are_checked_whole_and_never_store_a_bad_value(service, tiny_weights):
    with client_for(service, tiny_weights) as client:
        assert client.post("/api/controls", json={"range": [0.5, 4.0]}).status_code == 200
        bodies = [b'{"range": [0, Infinity]}', b'{"range": [0, NaN]}', b'{"layout": "depth", "range": [0, Infinity]}',
                  b'{"range": {"0": 1, "1": 2}}', b"[" * 100_000 + b"]" * 100_000, b'{"alpha": true}', b'{"colormap": [1]}',
                  b'{"evil": 1}', b"\xff\xfe"]  # fmt: skip
        for body in bodies:
            r = client.post("/api/controls", content=body, headers={"content-type": "application/json"})
            assert r.status_code in (400, 413), (body[:40], r.status_code)
        stats = client.get("/api/stats")
        assert stats.status_code == 200 and stats.json()["controls"]["range"] == [0.5, 4.0]
        assert stats.json()["controls"]["layout"] == "overlay"  # the body with a bad range applied nothing
        big = b'{"colormap": "' + b"x" * 30_000_000 + b'"}'
        r = client.post("/api/controls", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and len(r.content) < 200
        long_name = b'{"colormap": "' + b"y" * 3000 + b'"}'
        r = client.post("/api/controls", content=long_name, headers={"content-type": "application/json"})
        assert r.status_code == 400 and b"yyy" not in r.content  # nothing of the body is echoed
        assert client.get("/api/snapshot/anything.png").status_code == 404


def test_multipart_uploads_are_accepted(service, tiny_weights, tum_dir):
    with client_for(service, tiny_weights) as client:
        files = {"file": ("x.jpg", tum_rgb(tum_dir, 0).read_bytes(), "image/jpeg")}
        r = client.post("/api/depth/image", files=files)
        assert r.status_code == 200 and cv2.imdecode(np.frombuffer(r.content, np.uint8), 1).shape == (240, 320, 3)
        r = client.post("/api/depth/image", data={"note": "no file"}, files={})
        assert r.status_code in (400, 415)


def test_a_token_off_localhost_is_generated_and_unsafe_tokens_refused(real_clip, tiny_weights):
    from helpers import run_cli

    for bad in ("has space", "semi;colon", "ümlaut"):
        code, _, err = run_cli("serve", real_clip, "-w", tiny_weights, "--token", bad)
        assert code == 2 and "--token" in err, err
    from rtdepth.serve.guard import TOKEN_PATTERN, allowed_hosts, host_name
    from rtdepth.serve.run import access_token

    said = []
    generated = access_token("0.0.0.0", None, said.append)
    assert generated and TOKEN_PATTERN.fullmatch(generated) and len(generated) >= 20 and "generated" in said[0]
    assert access_token("0.0.0.0", None, said.append) != generated  # random each start
    assert access_token("127.0.0.1", None) is None and access_token("127.0.0.1", "s3cret") == "s3cret"
    assert allowed_hosts("0.0.0.0") == () and "127.0.0.1" in allowed_hosts("127.0.0.1")
    assert "192.0.2.7" in allowed_hosts("192.0.2.7") and host_name("[::1]:8000") == "::1"


@pytest.mark.slow
def test_sigterm_while_an_uploaded_video_is_processed_exits_0(tmp_path, tum_dir, tiny_weights):
    import signal
    import subprocess
    import sys
    import urllib.request

    clip = make_clip(tmp_path / "c.mp4", [cv2.resize(cv2.imread(str(tum_rgb(tum_dir, i))), (160, 120)) for i in range(300)],
                     fps=30)  # fmt: skip
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rtdepth", "serve", str(clip), "-w", str(tiny_weights), "-b", "torch",
                             "--port", str(port), "--max-video-seconds", "30"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        upload = lambda: urllib.request.Request(f"http://127.0.0.1:{port}/api/depth/video", data=clip.read_bytes(),  # noqa: E731
                                                method="POST", headers={"Content-Type": "video/mp4"})  # fmt: skip
        job = _first_answer(proc, upload, timeout=30)
        assert job is not None and b'"running"' in job
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "stopped (SIGTERM)" in err and "terminate called" not in err, err
    finally:
        proc.kill()
        proc.communicate()
