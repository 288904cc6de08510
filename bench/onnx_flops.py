#!/usr/bin/env python3
"""Convolution FLOPs of one image through an ONNX model with a fixed input size (2 per
multiply-add, batch 1), the figure bench/README.md divides the CPU's measured GFLOP/s by to get
a ceiling on training images per second (a training step costs about three forward passes).

  onnx_flops.py MODEL.onnx

Needs Debian's python3-onnx (scripts/bench-quantize installs it inside the build root).
"""
import sys

import onnx
import onnx.shape_inference


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    model = onnx.shape_inference.infer_shapes(onnx.load(sys.argv[1]))
    shapes = {info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
              for info in list(model.graph.value_info) + list(model.graph.output)}
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        out_channels, in_per_group, kh, kw = weights[node.input[1]]
        height, width = (shapes.get(node.output[0]) or [0, 0, 0, 0])[2:4]
        if height <= 0 or width <= 0:
            sys.exit(f"onnx_flops.py: {sys.argv[1]}: {node.output[0]} has no fixed size")
        total += 2 * out_channels * in_per_group * kh * kw * height * width
    print(f"{total / 1e9:.3f} GFLOP per image in {sum(n.op_type == 'Conv' for n in model.graph.node)} convolutions")


if __name__ == "__main__":
    main()
