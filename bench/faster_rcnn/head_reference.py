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
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
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


def fill_parameters(module):
    # Deterministic weights any implementation can reproduce: sin(0.7·i + offset) scaled by
    # 0.5/√fan_in (weights) or 0.1 (biases); offset = sum of the name's character codes mod 100.
    with torch.no_grad():
        for name, p in module.named_parameters():
            offset = sum(ord(c) for c in name) % 100
            scale = 0.1 if p.dim() == 1 else 0.5 / (p.numel() / p.shape[0]) ** 0.5
            p.copy_((torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.7 + offset) * scale).reshape(p.shape))


def end_to_end_figures():
    print("# tiny RPN + RoIHeads, 4 channels, weights from fill_parameters")
    rpn = RegionProposalNetwork(AnchorGenerator(((16,), (32,)), ((0.5, 1.0, 2.0),) * 2), RPNHead(4, 3),
                                0.7, 0.3, 256, 0.5, dict(training=50, testing=30), dict(training=20, testing=10),
                                0.7, score_thresh=0.0)
    heads = RoIHeads(MultiScaleRoIAlign(["0", "1"], 7, 2), TwoMLPHead(4 * 49, 16), FastRCNNPredictor(16, 3),
                     0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 10)
    fill_parameters(rpn)
    fill_parameters(heads)
    images = ImageList(torch.zeros(2, 3, 64, 64), [(64, 64), (60, 50)])
    f0, f1 = feature(8, 16, 16).reshape(2, 4, 16, 16), feature(8, 8, 8).reshape(2, 4, 8, 8) * 0.5
    features = {"0": f0, "1": f1}
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 30.0], [30.0, 20.0, 60.0, 60.0]]),
                "labels": torch.tensor([1, 2])},
               {"boxes": torch.tensor([[5.0, 5.0, 25.0, 45.0]]), "labels": torch.tensor([2])}]
    rpn.eval()
    heads.eval()
    with torch.no_grad():
        proposals, _ = rpn(images, features)
        detections, _ = heads(features, proposals, images.image_sizes)
    for i in range(2):
        print(f"image {i} proposals", proposals[i].flatten())
        for key in ("boxes", "labels", "scores"):
            print(f"image {i} {key}", detections[i][key].flatten())
    rpn.train()
    heads.train()
    torch.manual_seed(0)
    proposals, rpn_losses = rpn(images, features, targets)
    _, head_losses = heads(features, proposals, images.image_sizes, targets)
    print("training losses (seed 0)", {k: v.item() for k, v in {**rpn_losses, **head_losses}.items()})


if __name__ == "__main__":
    part_counts()
    roi_align_figures()
    end_to_end_figures()
