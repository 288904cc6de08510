#!/usr/bin/env python3
"""Compares one `vision train` run with the Ultralytics peer's run on the same data and settings
(scripts/bench-train --peer): prints both per-epoch tables and the figures, writes them as JSON.
usage: train_peer.py VISION_ARTIFACTS_JSON PEER_EPOCH_TIMING_JSONL PEER_PEAK_RSS_KB OUT_JSON CPU_MODEL CPU_FLAGS"""
import json
import statistics
import sys


def figures(rows):
    """rows: (epoch, training images/s, seconds with validation, mAP50-95) per epoch. Medians over
    epochs 2..E as the peer takes them (epoch 1 holds the warm-up), all epochs when there is one."""
    later = rows[1:] or rows
    cumulative, elapsed = [], 0.0
    for _, _, seconds, _ in rows:
        elapsed += seconds
        cumulative.append(round(elapsed, 3))
    return {"epochs": [{"epoch": e, "train_images_per_second": ips, "epoch_seconds": s, "map50_95": m, "cumulative_seconds": c}
                       for (e, ips, s, m), c in zip(rows, cumulative)],
            "train_images_per_second": statistics.median(r[1] for r in later),
            "epoch_seconds": statistics.median(r[2] for r in later),
            "median_over_epochs": [later[0][0], later[-1][0]]}


def time_to(side, target):
    """Cumulative wall time to the first epoch at or above target; None when never."""
    for e in side["epochs"]:
        if e["map50_95"] >= target:
            return {"epoch": e["epoch"], "seconds": e["cumulative_seconds"]}
    return None


def ratio(a, b):
    return a / b if a is not None and b else None


def main(vision_json, peer_jsonl, peer_rss_kb, out_json, cpu_model, cpu_flags):
    artifacts = json.load(open(vision_json))["artifacts"]
    vision = figures([(e["epoch"], e["images_per_second"], e["train_seconds"] + e["val_seconds"], e["map50_95"])
                      for e in artifacts["epochs"]])
    vision["peak_rss_mb"] = artifacts["peak_rss_mb"]
    with open(peer_jsonl) as f:
        peer_rows = [json.loads(line) for line in f if line.strip()]
    if not peer_rows or not vision["epochs"]:
        sys.exit("train_peer.py: no epochs in " + (peer_jsonl if not peer_rows else vision_json))
    peer = figures([(r["epoch"], r["train_img_per_s"], r["epoch_s"], r["mAP50-95"]) for r in peer_rows])
    peer["peak_rss_mb"] = int(peer_rss_kb) / 1024
    target = peer["epochs"][-1]["map50_95"]
    for side in (peer, vision):
        side["time_to_peer_final_map"] = time_to(side, target)
    reached = [(side["time_to_peer_final_map"] or {}).get("seconds") for side in (vision, peer)]
    result = {"cpu": {"model": cpu_model, "flags": cpu_flags.split()}, "peer_final_map50_95": target,
              "peer": peer, "vision": vision,
              "ratios": {"train_images_per_second": ratio(vision["train_images_per_second"], peer["train_images_per_second"]),
                         "time_to_peer_final_map": ratio(*reached)}}
    with open(out_json, "w") as f:
        json.dump(result, f, indent=2)
    report(result)


def cell(value, form):
    return "—" if value is None else format(value, form)


def report(r):
    peer, vision = r["peer"], r["vision"]
    print("| epoch | peer mAP50-95 | Vision mAP50-95 | peer images/s | Vision images/s | peer s (cumulative) | Vision s (cumulative) |")
    print("|---|---|---|---|---|---|---|")
    for i in range(max(len(peer["epochs"]), len(vision["epochs"]))):
        p = peer["epochs"][i] if i < len(peer["epochs"]) else {}
        v = vision["epochs"][i] if i < len(vision["epochs"]) else {}
        print(f"| {i + 1} | {cell(p.get('map50_95'), '.3f')} | {cell(v.get('map50_95'), '.3f')} | "
              f"{cell(p.get('train_images_per_second'), '.1f')} | {cell(v.get('train_images_per_second'), '.1f')} | "
              f"{cell(p.get('epoch_seconds'), '.1f')} ({cell(p.get('cumulative_seconds'), '.1f')}) | "
              f"{cell(v.get('epoch_seconds'), '.1f')} ({cell(v.get('cumulative_seconds'), '.1f')}) |")
    span = "{}..{}".format(*peer["median_over_epochs"])
    if vision["median_over_epochs"] != peer["median_over_epochs"]:
        span += " (Vision: {}..{})".format(*vision["median_over_epochs"])
    reach = {}
    for name, side in (("peer", peer), ("vision", vision)):
        t = side["time_to_peer_final_map"]
        reach[name] = "not reached" if t is None else f"{t['seconds']:.1f} s (epoch {t['epoch']})"
    print()
    print("| figure | peer | Vision | Vision/peer |")
    print("|---|---|---|---|")
    print(f"| training images/s, median of epochs {span} | {peer['train_images_per_second']:.1f} | "
          f"{vision['train_images_per_second']:.1f} | {cell(r['ratios']['train_images_per_second'], '.2f')}x |")
    print(f"| seconds per epoch with validation, median of epochs {span} | {peer['epoch_seconds']:.1f} | "
          f"{vision['epoch_seconds']:.1f} | {vision['epoch_seconds'] / peer['epoch_seconds']:.2f}x |")
    print(f"| peak RSS, MB | {peer['peak_rss_mb']:.0f} | {vision['peak_rss_mb']:.0f} | "
          f"{vision['peak_rss_mb'] / peer['peak_rss_mb']:.2f}x |")
    print(f"| mAP50-95 after the last epoch | {peer['epochs'][-1]['map50_95']:.3f} | {vision['epochs'][-1]['map50_95']:.3f} | |")
    print(f"| time to the peer's final mAP50-95 ({r['peer_final_map50_95']:.3f}) | {reach['peer']} | {reach['vision']} | "
          f"{cell(r['ratios']['time_to_peer_final_map'], '.2f')}{'' if r['ratios']['time_to_peer_final_map'] is None else 'x'} |")


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
