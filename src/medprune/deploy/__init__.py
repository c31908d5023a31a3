"""Deployment: export to ONNX (fp32, int8), OpenVINO (fp32, NNCF int8) and TorchScript, each checked against
PyTorch, and PyTorch models prepared for CPU serving (BatchNorm folded, channels-last)."""
