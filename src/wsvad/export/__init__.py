"""Exports of trained runs for other runtimes (ONNX: :mod:`wsvad.export.onnx`)."""
