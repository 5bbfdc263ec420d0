"""The bundled offline default: EfficientNet-Lite0 + MiniLM joined by ConSE."""
