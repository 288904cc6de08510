#!/usr/bin/env python3
"""The peer of Vision's static INT8: ONNX Runtime's own Python quantizer (quantize_static, QDQ
format, per-channel symmetric int8 weights, uint8 activations, min-max calibration), the tool
the Export issue's 2.2-2.5x reference comes from. bench_quantize times its output against
Vision's in the same run, so the comparison does not depend on the machine.

Like Vision's quantizer it leaves the head's decode in float: the per-stride Reshapes and every
node that reads their results (a YOLOv8 graph has no other Reshape). Quantized, the decode's single
output scale spans box pixels and class scores alike and rounds every score to 0.

  ort_quantize.py MODEL.onnx OUTPUT.onnx IMAGE [IMAGE ...]

The images are letterboxed to the model's input size exactly as Vision prepares them (grey 114
borders, RGB, scaled to [0, 1]). Needs Debian's python3-onnxruntime, python3-onnx and
python3-opencv.
"""
import sys

# Debian's onnx and onnxruntime share one operator registry: onnx.reference must build its
# schema table before onnxruntime adds its own operators to it.
import onnx
import onnx.reference  # noqa: F401
import cv2
import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)


def letterbox(image, width, height):
    scale = min(width / image.shape[1], height / image.shape[0])
    new_w, new_h = round(image.shape[1] * scale), round(image.shape[0] * scale)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), 114, np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas


class Images(CalibrationDataReader):
    def __init__(self, paths, input_name, width, height):
        self.items = iter(paths)
        self.input_name, self.width, self.height = input_name, width, height

    def get_next(self):
        path = next(self.items, None)
        if path is None:
            return None
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            sys.exit(f"ort_quantize.py: cannot read image {path}")
        rgb = cv2.cvtColor(letterbox(image, self.width, self.height), cv2.COLOR_BGR2RGB)
        tensor = rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        return {self.input_name: tensor}


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model_path, output_path, images = sys.argv[1], sys.argv[2], sys.argv[3:]
    model = onnx.load(model_path)
    graph_input = model.graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] <= 0 or dims[3] <= 0:
        sys.exit(f"ort_quantize.py: {model_path}: input {graph_input.name} needs a fixed height and width")
    decode, decoded = [], set()
    for node in model.graph.node:  # in topological order
        if node.op_type == "Reshape" or decoded.intersection(node.input):
            decode.append(node.name)
            decoded.update(node.output)
    quantize_static(model_path, output_path, Images(images, graph_input.name, dims[3], dims[2]),
                    nodes_to_exclude=decode, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


if __name__ == "__main__":
    main()
