"""``rtdepth serve``: the streaming pipeline behind a small web page (MJPEG, controls, snapshots, uploads)."""
