# The reference side of scripts/bench-frcnn: torchvision's Faster R-CNN trained from scratch on a
# YOLO data set (images/{train,val}, labels/{train,val}/*.txt) the way references/detection
# trains it — SGD, a linear warm-up over the first epoch's first min(1000, iterations - 1)
# steps from lr/1000, then its cosineannealinglr schedule stepped per epoch (Vision's
# faster_rcnn recipe), horizontal flip 0.5 — with Vision's transform sizes (min_size =
# img_size, max_size = round(img_size · 1333 / 800)).
# Prints one line per epoch with its training images/s and the median of epochs 2..E, and
# writes the val predictions (score >= 0.001, at most 300 per image, boxes in pixels, 0-based
# classes) as JSON for bench_frcnn_score, so Vision's evaluator scores both sides the same way.
# Run (data and output under /tmp): /work/shared/peers/ultralytics-peer run python3 \
#   /tmp/torchvision_train.py --data DIR --out PRED.json [--variant mobilenet_v3] [--img-size 320] ...
import argparse
import json
import os
import random
import statistics
import time

import cv2
import torch
import yaml

from torchvision_step import build, VARIANTS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(data, split):
    folder = os.path.join(data, "images", split)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))


def label_file(image_path):
    # images/<split>/a.jpg → labels/<split>/a.txt, as YOLO data sets pair them.
    head, name = os.path.split(image_path)
    split_dir, split = os.path.split(head)
    return os.path.join(os.path.dirname(split_dir), "labels", split, os.path.splitext(name)[0] + ".txt")


def read_image(path):
    image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255)


def read_boxes(path, width, height):
    boxes, classes = [], []
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) != 5:
                continue
            c, cx, cy, w, h = int(parts[0]), *map(float, parts[1:])
            boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
            classes.append(c)
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(classes, dtype=torch.int64)


class YoloSet(torch.utils.data.Dataset):
    def __init__(self, data, split, flip):
        self.images = list_images(data, split)
        self.flip = flip

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = read_image(self.images[i])
        height, width = image.shape[1:]
        boxes, classes = read_boxes(label_file(self.images[i]), width, height)
        if self.flip and random.random() < 0.5:  # references/detection's RandomHorizontalFlip(0.5)
            image = image.flip(-1)
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
        return image, {"boxes": boxes, "labels": classes + 1}


def collate(batch):
    return tuple(zip(*batch))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="YOLO data set with dataset.yaml")
    parser.add_argument("--out", required=True, help="val predictions JSON")
    parser.add_argument("--variant", default="mobilenet_v3", choices=sorted(VARIANTS))
    parser.add_argument("--img-size", type=int, default=320)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    names = yaml.safe_load(open(os.path.join(args.data, "dataset.yaml")))["names"]
    num_classes = len(names)

    model = build(args.variant, num_classes + 1, args.img_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    epoch_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    train_set = YoloSet(args.data, "train", flip=True)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                         collate_fn=collate, generator=torch.Generator().manual_seed(args.seed))

    rates = []
    for epoch in range(args.epochs):
        model.train()
        warmup = None
        if epoch == 0:  # references/detection/engine.py's train_one_epoch
            warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / 1000,
                                                       total_iters=min(1000, len(loader) - 1))
        start, seen, loss_sum = time.perf_counter(), 0, 0.0
        for images, targets in loader:
            losses = model(list(images), list(targets))
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if warmup is not None:
                warmup.step()
            seen += len(images)
            loss_sum += loss.item() * len(images)
        seconds = time.perf_counter() - start
        epoch_scheduler.step()
        rates.append(seen / seconds)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / seen:.4f}, {seconds:.1f} s, "
              f"{rates[-1]:.3f} images/s", flush=True)
    median = statistics.median(rates[1:] if len(rates) > 1 else rates)
    print(f"torchvision {args.variant} training: {median:.3f} images/s (median of epochs 2..{args.epochs})", flush=True)

    # Every detection Vision's evaluator may count: score >= 0.001, up to 300 per image.
    model.eval()
    model.roi_heads.score_thresh = 0.001
    model.roi_heads.detections_per_img = 300
    predictions = []
    with torch.no_grad():
        for path in list_images(args.data, "val"):
            image = read_image(path)
            result = model([image])[0]
            predictions.append({
                "image": os.path.relpath(path, args.data),
                "width": image.shape[2],
                "height": image.shape[1],
                "detections": [{"box": [round(v, 3) for v in box], "class": int(label) - 1, "score": float(score)}
                               for box, label, score in zip(result["boxes"].tolist(), result["labels"].tolist(),
                                                            result["scores"].tolist())],
            })
    with open(args.out, "w") as f:
        json.dump({"classes": num_classes, "images_per_second": median, "epoch_images_per_second": rates,
                   "predictions": predictions}, f)
    print(f"val predictions: {args.out}")


if __name__ == "__main__":
    main()
