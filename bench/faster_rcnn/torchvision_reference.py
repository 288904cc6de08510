# Reference figures from torchvision's Faster R-CNN builders for the C++ tests (run in the peer root:
#   cp bench/faster_rcnn/torchvision_reference.py /tmp && ultralytics-peer run python3 /tmp/torchvision_reference.py /tmp/frcnn-ref)
# Writes OUT/param_counts.json and OUT/<variant>_state.txt (state_dict of the model built with 3 classes:
# name, shape, param|buffer), and prints the feature-map and transform figures the tests hard-code.
import json
import os
import sys

import torch
import torchvision
from torchvision.models.detection import (FasterRCNN, fasterrcnn_mobilenet_v3_large_fpn, fasterrcnn_resnet50_fpn,
                                          fasterrcnn_resnet50_fpn_v2)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign


def resnet18_fpn(num_classes):
    # The Python original's construction of its resnet18_fpn variant.
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5)
    anchors = AnchorGenerator(sizes=((32,), (64,), (128,), (256,), (512,)), aspect_ratios=((0.5, 1.0, 2.0),) * 5)
    pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2", "3"], output_size=7, sampling_ratio=2)
    return FasterRCNN(backbone, num_classes=num_classes, rpn_anchor_generator=anchors, box_roi_pool=pool)


BUILDERS = {
    "mobilenet_v3": lambda n: fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=n),
    "resnet50_fpn": lambda n: fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=n),
    "resnet50_fpn_v2": lambda n: fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=n),
    "resnet18_fpn": resnet18_fpn,
}
PARTS = ["backbone", "rpn", "roi_heads.box_head", "roi_heads.box_predictor"]


def count(module):
    return sum(p.numel() for p in module.parameters())


def deterministic_fill(module):
    # Entry k of the sorted state_dict (num_batches_tracked aside) gets sin(0.37·i + k), scaled:
    # weights by 1/sqrt(fan_in), BatchNorm weights and variances around 1, biases and means small.
    # test_backbone.cpp fills its modules the same way.
    state = module.state_dict()
    keys = sorted(k for k in state if not k.endswith("num_batches_tracked"))
    with torch.no_grad():
        for k, key in enumerate(keys):
            t = state[key]
            wave = torch.sin(torch.arange(t.numel(), dtype=torch.float32) * 0.37 + k).reshape(t.shape)
            if key.endswith("running_var"):
                t.copy_(1.0 + 0.25 * wave)
            elif t.dim() >= 2:
                t.copy_(wave / (t.numel() / t.shape[0]) ** 0.5)
            elif key.endswith("weight"):
                t.copy_(1.0 + 0.1 * wave)
            else:
                t.copy_(0.1 * wave)


def deterministic_image(*shape):
    count = 1
    for size in shape:
        count *= size
    return (0.5 + 0.5 * torch.sin(torch.arange(count, dtype=torch.float32) * 0.01)).reshape(shape)


def main(out):
    os.makedirs(out, exist_ok=True)
    figures = {"torch": torch.__version__, "torchvision": torchvision.__version__, "variants": {}}
    for name, build in BUILDERS.items():
        entry = {}
        for classes in (3, 91):
            model = build(classes)
            entry[str(classes)] = {"total": count(model), **{p: count(model.get_submodule(p)) for p in PARTS}}
        figures["variants"][name] = entry
        model = build(3).eval()
        params = {k for k, _ in model.named_parameters()}
        with open(os.path.join(out, f"{name}_state.txt"), "w") as f:
            for key, value in model.state_dict().items():
                f.write(f"{key} {'x'.join(map(str, value.shape)) or 'scalar'} {'param' if key in params else 'buffer'}\n")
        with torch.no_grad():
            maps = model.backbone(torch.zeros(1, 3, 320, 416))
        print(name, "features", [(k, tuple(v.shape)) for k, v in maps.items()])
        t = model.transform
        print(name, "transform", t.min_size, t.max_size, t.image_mean, t.image_std, t.size_divisible)
        print(name, "rpn", model.rpn._pre_nms_top_n, model.rpn._post_nms_top_n, model.rpn.nms_thresh,
              model.rpn.score_thresh, model.rpn.fg_bg_sampler.batch_size_per_image,
              model.rpn.fg_bg_sampler.positive_fraction, model.rpn.proposal_matcher.high_threshold,
              model.rpn.proposal_matcher.low_threshold, model.rpn.anchor_generator.sizes,
              model.rpn.anchor_generator.aspect_ratios, len(model.rpn.head.conv))
        h = model.roi_heads
        print(name, "roi", h.score_thresh, h.nms_thresh, h.detections_per_img, h.proposal_matcher.high_threshold,
              h.proposal_matcher.low_threshold, h.fg_bg_sampler.batch_size_per_image,
              h.fg_bg_sampler.positive_fraction, h.box_coder.weights, h.box_roi_pool.featmap_names,
              h.box_roi_pool.output_size, h.box_roi_pool.sampling_ratio, type(h.box_head).__name__)
    with open(os.path.join(out, "param_counts.json"), "w") as f:
        json.dump(figures, f, indent=2)
        f.write("\n")

    # Forward parity: every backbone entry filled by deterministic_fill, a deterministic image in,
    # per map its mean, mean |x| and the values at two flat indices out.
    for name, build in BUILDERS.items():
        backbone = build(3).backbone.eval()
        deterministic_fill(backbone)
        with torch.no_grad():
            maps = backbone(deterministic_image(1, 3, 64, 96))
        for key, value in maps.items():
            flat = value.flatten()
            print(name, "parity", key, tuple(value.shape), f"{value.mean().item():.9g}", f"{value.abs().mean().item():.9g}",
                  f"{flat[0].item():.9g}", f"{flat[flat.numel() // 2].item():.9g}")

    # The transform: resized sizes, padding, box scaling, for min/max 800/1333 and 640/1066.
    for min_size, max_size in ((800, 1333), (640, 1066)):
        t = GeneralizedRCNNTransform(min_size, max_size, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()
        images = [torch.rand(3, h, w) for h, w in ((480, 640), (375, 500), (1000, 300), (333, 333), (427, 640))]
        boxes = [{"boxes": torch.tensor([[10.0, 20.0, 110.0, 220.0]])} for _ in images]
        batch, targets = t(images, boxes)
        print(min_size, max_size, "sizes", batch.image_sizes, "padded", tuple(batch.tensors.shape))
        print(min_size, max_size, "boxes", [tg["boxes"].tolist() for tg in targets])
    # Normalisation and the bilinear resize on a tiny image: 2x3 ramp, short side 4, long side <= 8.
    t = GeneralizedRCNNTransform(4, 8, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()
    ramp = torch.arange(6, dtype=torch.float32).reshape(1, 2, 3).expand(3, 2, 3) / 10
    batch, _ = t([ramp])
    print("tiny", batch.image_sizes, tuple(batch.tensors.shape))
    print("tiny channel0", batch.tensors[0, 0, :4, :6].tolist())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/frcnn-ref")
