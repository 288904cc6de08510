# torchvision's Faster R-CNN training step — forward, the four losses, backward, SGD step — on
# fixed random images and boxes, timed per stage like bench/bench_frcnn_step.cpp (same shapes).
# Run: cp bench/faster_rcnn/torchvision_step.py /tmp/ && /work/shared/peers/ultralytics-peer run \
#        python3 /tmp/torchvision_step.py [--variant mobilenet_v3] [--size 320] [--batch 2] [--threads 1]
import argparse
import statistics
import time

import torch
from torchvision.models.detection import (
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
    fasterrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FasterRCNN


def resnet18_fpn(num_classes, **kwargs):
    # Vision's fourth variant: ResNet-18 FPN, one anchor size per level × 3 ratios.
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None)
    anchors = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    return FasterRCNN(backbone, num_classes=num_classes, rpn_anchor_generator=anchors, **kwargs)


VARIANTS = {
    "mobilenet_v3": fasterrcnn_mobilenet_v3_large_fpn,
    "resnet50_fpn": fasterrcnn_resnet50_fpn,
    "resnet50": fasterrcnn_resnet50_fpn,
    "resnet50_fpn_v2": fasterrcnn_resnet50_fpn_v2,
    "resnet18_fpn": resnet18_fpn,
}


def build(variant, num_classes, img_size):
    # Vision's transform: min_size = img_size, max_size = round(img_size · 1333 / 800).
    sizes = dict(min_size=img_size, max_size=(img_size * 1333 + 400) // 800)
    if variant == "resnet18_fpn":
        return resnet18_fpn(num_classes, **sizes)
    return VARIANTS[variant](weights=None, weights_backbone=None, num_classes=num_classes, **sizes)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", default="mobilenet_v3", choices=sorted(VARIANTS))
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--boxes", type=int, default=4)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the autograd profiler's top ops")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.variant, args.classes + 1, args.size)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=1e-4)
    s = args.size
    images = [torch.rand(3, s, s) for _ in range(args.batch)]
    targets = []
    for _ in range(args.batch):
        xy = torch.rand(args.boxes, 2) * (0.7 * s)
        wh = torch.rand(args.boxes, 2) * (0.25 * s) + 0.05 * s
        targets.append({"boxes": torch.cat([xy, xy + wh], 1),
                        "labels": torch.randint(0, args.classes, (args.boxes,)) + 1})

    stages = ["transform", "backbone", "rpn", "roi_heads", "backward", "sgd"]
    times = {name: [] for name in stages}
    totals = []
    for step in range(args.steps + 2):
        t = {}
        step_start = time.perf_counter()
        optimizer.zero_grad()
        # GeneralizedRCNN.forward's training path, stage by stage.
        start = time.perf_counter()
        batch, resized = model.transform(images, [dict(x) for x in targets])
        t["transform"] = time.perf_counter() - start
        start = time.perf_counter()
        features = model.backbone(batch.tensors)
        t["backbone"] = time.perf_counter() - start
        start = time.perf_counter()
        proposals, rpn_losses = model.rpn(batch, features, resized)
        t["rpn"] = time.perf_counter() - start
        start = time.perf_counter()
        _, head_losses = model.roi_heads(features, proposals, batch.image_sizes, resized)
        t["roi_heads"] = time.perf_counter() - start
        start = time.perf_counter()
        sum(list(rpn_losses.values()) + list(head_losses.values())).backward()
        t["backward"] = time.perf_counter() - start
        start = time.perf_counter()
        optimizer.step()
        t["sgd"] = time.perf_counter() - start
        total = time.perf_counter() - step_start
        if step < 2:
            continue
        for name in stages:
            times[name].append(t[name])
        totals.append(total)
    median = statistics.median(totals)
    print(f"torchvision_step {args.variant}, {s} px, batch {args.batch}, {args.threads} threads: "
          f"{median:.3f} s/step, {args.batch / median:.2f} images/s (median of {args.steps} steps)")
    for name in stages:
        print(f"  {name:<10} {statistics.median(times[name]):.3f} s")
    if args.profile:
        with torch.autograd.profiler.profile() as prof:
            optimizer.zero_grad()
            losses = model(images, targets)
            sum(losses.values()).backward()
            optimizer.step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
