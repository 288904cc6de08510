#!/usr/bin/env python3
"""How much faster ONNX Runtime's integer convolution is than its float one on this CPU: a chain
of six 3x3 convolutions (and of six 1x1 ones) at YOLOv8n's widths, FP32 against the same chain
quantized by ONNX Runtime's own quantizer (static QDQ, per-channel int8 weights, uint8
activations, which stay uint8 between the layers), batch 1, median of 50 interleaved runs. A model made of convolutions cannot gain more from INT8 than
its convolutions do, so this is the ceiling for the INT8/FP32 ratio of any quantized YOLOv8n.

  ort_conv_ceiling.py [THREADS]

Needs Debian's python3-onnxruntime and python3-onnx (scripts/bench-quantize installs them).
"""
import os
import statistics
import sys
import tempfile
import time

# Debian's onnx and onnxruntime share one operator registry: onnx.reference must build its
# schema table before onnxruntime adds its own operators to it.
import onnx
import onnx.reference  # noqa: F401
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)


LAYERS = 6


def conv_model(path, channels, size, kernel):
    rng = np.random.default_rng(0)
    nodes, weights = [], []
    for layer in range(LAYERS):
        scale = 1.0 / np.sqrt(channels * kernel * kernel)
        weights.append(numpy_helper.from_array(
            rng.normal(0, scale, (channels, channels, kernel, kernel)).astype(np.float32), f"w{layer}"))
        weights.append(numpy_helper.from_array(rng.normal(0, 0.05, channels).astype(np.float32), f"b{layer}"))
        source = "x" if layer == 0 else f"t{layer - 1}"
        target = "y" if layer == LAYERS - 1 else f"t{layer}"
        nodes.append(helper.make_node("Conv", [source, f"w{layer}", f"b{layer}"], [target],
                                      pads=[kernel // 2] * 4, name=f"conv{layer}"))
    graph = helper.make_graph(
        nodes, "convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, size, size])],
        weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


class Inputs(CalibrationDataReader):
    def __init__(self, shape):
        self.items = iter([{"x": np.random.default_rng(i).random(shape, np.float32)} for i in range(8)])

    def get_next(self):
        return next(self.items, None)


def measure(work, options, threads):
    print(f"ONNX Runtime {ort.__version__}, {threads} threads, batch 1, median of 50 interleaved")
    for channels, size, kernel in [(32, 160, 3), (64, 80, 3), (128, 40, 3), (256, 20, 3), (64, 80, 1)]:
        fp32 = os.path.join(work, f"conv{channels}-{kernel}.onnx")
        int8 = os.path.join(work, f"conv{channels}-{kernel}-int8.onnx")
        conv_model(fp32, channels, size, kernel)
        shape = (1, channels, size, size)
        quantize_static(fp32, int8, Inputs(shape), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        sessions = [ort.InferenceSession(p, options, providers=["CPUExecutionProvider"]) for p in (fp32, int8)]
        x = {"x": np.random.default_rng(9).random(shape, np.float32)}
        times = [[], []]
        for i in range(60):
            for s, session in enumerate(sessions):
                start = time.perf_counter()
                session.run(None, x)
                if i >= 10:
                    times[s].append((time.perf_counter() - start) * 1e3)
        f, q = statistics.median(times[0]), statistics.median(times[1])
        print(f"{LAYERS} x {kernel}x{kernel} conv {channels}->{channels} at {size}x{size}: FP32 {f:.3f} ms, "
              f"INT8 QDQ {q:.3f} ms, {f / q:.2f}x")


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory(prefix="vision-conv-ceiling-") as work:
        measure(work, options, threads)


if __name__ == "__main__":
    main()
