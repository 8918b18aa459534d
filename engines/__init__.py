"""Builders of engines: ONNX export, TensorRT build, ONNX Runtime int8 quantization, and the benchmark."""
