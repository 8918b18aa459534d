"""Running models: backends (PyTorch, ONNX Runtime, TensorRT), engine headers, the engine cache, preprocessing."""
