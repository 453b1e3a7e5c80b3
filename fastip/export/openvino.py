"""ONNX -> OpenVINO IR (model.xml + model.bin), kept in FP32."""

from __future__ import annotations

from pathlib import Path

from fastip.errors import ExportError, require


def convert_to_ir(onnx_path: Path, xml_path: Path) -> None:
    """Convert an ONNX file to OpenVINO IR without FP16 weight compression."""
    ov = require("openvino", "openvino", "the openvino target")
    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    except Exception as exc:  # OpenVINO raises RuntimeError / OpConversionFailure
        raise ExportError(f"OpenVINO could not convert {onnx_path.name}: {exc}") from exc
