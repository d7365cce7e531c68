"""The networks side by side on CPU (torch): parameters, multiply-adds and milliseconds per
4-s window, front end (the network's own feature function) + network, at batch 1 and 32.

Each network is built for 10 classes with its default arch (random weights: the cost does
not depend on them) and timed in its inference form (`for_inference`, eval mode) under
torch.inference_mode. Windows are noise at each front end's sample rate. Each figure is the
median over --rounds rounds of the median of --repeats calls (this machine is shared).

    nice -n 10 python benchmarks/bench_networks.py [--threads 2] [--networks cnn,yamnet,mn04]
        [--batches 1,32] [--repeats 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
import torch.nn as nn

from envaudio.networks import NETWORKS, get_network

from bench_inference import timed_ms  # the same timing rule (benchmarks/ is the script's folder)


def default_frontend(module):
    """The network's front end with its defaults (the CNN's is FeatureConfig's)."""
    return module.Frontend()


def multiply_adds(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass over x's batch, counted at the convolutions and
    linear layers (the rest is small)."""
    total = 0

    def conv(m, inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.inference_mode():
        net(x)
    for h in hooks:
        h.remove()
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = [int(b) for b in args.batches.split(",")]
    r = dict(repeats=args.repeats, rounds=args.rounds)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{args.threads} threads; medians of {args.rounds} rounds x {args.repeats} calls; "
          f"ms per 4-s window")
    head = f"{'network':8} {'params':>10} {'MMAC/win':>9} {'input':>14}"
    for b in batches:
        head += f" | b={b:<3} {'feat':>6} {'net':>6} {'total':>6}"
    print(head)
    rng = np.random.default_rng(0)
    for name in args.networks.split(","):
        module = get_network(name)
        fe = default_frontend(module)
        net = module.build({}, args.classes).eval()
        params = sum(p.numel() for p in net.parameters())
        net = module.for_inference(net)
        one = (0.1 * rng.standard_normal((1, fe.n_samples))).astype(np.float32)
        x1 = torch.as_tensor(module.features(one, fe))
        macs = multiply_adds(net, x1)
        row = f"{name:8} {params:>10,} {macs / 1e6:>9.1f} {str(tuple(x1.shape[1:])):>14}"
        for b in batches:
            waves = (0.1 * rng.standard_normal((b, fe.n_samples))).astype(np.float32)
            x = torch.as_tensor(module.features(waves, fe))

            def run_net(x=x):
                with torch.inference_mode():
                    net(x)

            def run_all(waves=waves):
                with torch.inference_mode():
                    net(torch.as_tensor(module.features(waves, fe)))

            feat = timed_ms(lambda: module.features(waves, fe), **r) / b
            net_ms = timed_ms(run_net, **r) / b
            total = timed_ms(run_all, **r) / b
            row += f" | {'':5} {feat:>6.2f} {net_ms:>6.2f} {total:>6.2f}"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
