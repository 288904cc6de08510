# Reference figures for the Faster R-CNN head (RPN + RoI heads) unit tests, from torchvision 0.21.
# Run: cp bench/faster_rcnn/head_reference.py /tmp/ && /work/shared/peers/ultralytics-peer run python3 /tmp/head_reference.py
import torch
from torchvision.models.detection import (
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
    fasterrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.ops import MultiScaleRoIAlign, roi_align

torch.set_printoptions(precision=8, sci_mode=False)


def resnet18_fpn(num_classes):
    # The original's fourth variant: ResNet-18 FPN, one anchor size per level × 3 ratios.
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None)
    anchors = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    return FasterRCNN(backbone, num_classes=num_classes, rpn_anchor_generator=anchors)


VARIANTS = {
    "mobilenet_v3": lambda n: fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=n),
    "resnet50_fpn": lambda n: fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=n),
    "resnet50_fpn_v2": lambda n: fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=n),
    "resnet18_fpn": resnet18_fpn,
}


def part_counts():
    print("# parameter counts (numel of parameters) per part, and state_dict keys")
    for name, build in VARIANTS.items():
        for num_classes in (4, 91):
            model = build(num_classes)
            counts = {p: sum(t.numel() for k, t in model.named_parameters() if k.startswith(p + "."))
                      for p in ("rpn", "roi_heads")}
            print(f"{name} num_classes={num_classes}: {counts}")
        keys = [k for k in model.state_dict() if k.startswith(("rpn.", "roi_heads."))]
        print(f"{name} keys: {keys}")


def feature(channels, height, width):
    # Deterministic, non-separable values so a swapped axis or a wrong corner shows.
    n = channels * height * width
    return torch.sin(torch.arange(n, dtype=torch.float32) * 0.37).reshape(1, channels, height, width) * 10


def roi_align_figures():
    print("# roi_align(feature(2,6,8), rois, output (2,3), spatial_scale 0.5, sampling_ratio 2, aligned False)")
    x = feature(2, 6, 8)
    rois = torch.tensor([[0, 1.0, 2.0, 9.0, 7.0],      # inside
                         [0, 3.3, 0.4, 3.9, 1.0],      # under one cell: width/height clamp to 1
                         [0, 10.0, 6.0, 17.5, 14.0]],  # reaches past the map: samples beyond it are 0
                        dtype=torch.float32)
    print(roi_align(x, rois, output_size=(2, 3), spatial_scale=0.5, sampling_ratio=2, aligned=False).flatten())

    print("# MultiScaleRoIAlign(['0','1'], 2, 2) on feature(2,64,64), feature(2,32,32) + an unused '2', image 256x256")
    pool = MultiScaleRoIAlign(["0", "1"], 2, 2)
    maps = {"0": feature(2, 64, 64), "1": feature(2, 32, 32) * 0.5 + 1, "2": feature(2, 16, 16)}
    boxes = torch.tensor([[10.0, 20.0, 66.0, 76.0],     # 56 px: level 2 (k_min) → map "0"
                          [30.0, 40.0, 142.0, 152.0],   # 112 px: level 3 → map "1"
                          [0.0, 0.0, 250.0, 240.0],     # large: clamped to k_max → map "1"
                          [5.0, 5.0, 9.0, 9.0]],        # tiny: clamped to k_min → map "0"
                         dtype=torch.float32)
    print(pool(maps, [boxes], [(256, 256)]).flatten())


if __name__ == "__main__":
    part_counts()
    roi_align_figures()
