#!/usr/bin/python3
# tests/reference/bench_torch.py — the PyTorch side of `make bench`: CPU speed of the
# reference model (pixelcnn.py, the CPEN 455 starter architecture with class terms).
#
#   /usr/bin/python3 tests/reference/bench_torch.py [-t THREADS] [-c R,F,M]... [-b 32] [-s 32]
#
# Prints TSV lines "impl<TAB>config<TAB>metric<TAB>value" on stdout, config as "R,F,M":
#   torch  1,40,5  train_img_per_s  ..   forward + backward + Adam step, batch -b, train mode
#   torch  1,40,5  score_img_per_s  ..   log p(x|c) for all K = 4 classes, eval, no grad
#   torch  1,40,5  peak_rss_mib     ..   peak resident memory of the process for this config
# Each config runs in its own child process so its peak RSS is its own. Inputs are random
# pixels (speed does not depend on them); timing starts after one warm-up step.
import argparse
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = ["1,40,5", "2,80,10"]


def run_one(cfg, a):
    import torch
    sys.path.insert(0, HERE)
    from pixelcnn import PixelCNN, pixels_to_input

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    R, F, M = (int(v) for v in cfg.split(","))
    K, B, S = 4, a.batch, a.size
    model = PixelCNN(R, F, M, K)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8)
    x = pixels_to_input(torch.randint(0, 256, (B, S, S, 3)).float())
    y = torch.randint(0, K, (B,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = -model.log_prob(x, y).mean()
        loss.backward()
        opt.step()

    def score_batch():
        with torch.no_grad():
            return model.log_prob_all_classes(x)

    def rate(fn, min_reps, min_s):
        fn()                                  # warm-up
        n, t0 = 0, time.perf_counter()
        while n < min_reps or time.perf_counter() - t0 < min_s:
            fn()
            n += 1
        return n * B / (time.perf_counter() - t0)

    model.train()
    tr = rate(train_step, a.reps, a.min_seconds)
    model.eval()
    sc = rate(score_batch, a.reps, a.min_seconds)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB -> MiB
    for metric, v in (("train_img_per_s", tr), ("score_img_per_s", sc), ("peak_rss_mib", rss)):
        print("torch\t%s\t%s\t%.2f" % (cfg, metric, v), flush=True)


def main():
    ap = argparse.ArgumentParser(description="CPU speed of the PyTorch reference PixelCNN++.")
    ap.add_argument("-t", "--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("-c", "--config", action="append",
                    help="R,F,M (repeatable; default 1,40,5 and 2,80,10)")
    ap.add_argument("-b", "--batch", type=int, default=32, help="batch size (default 32)")
    ap.add_argument("-s", "--size", type=int, default=32, help="image side (default 32)")
    ap.add_argument("--reps", type=int, default=3, help="at least this many timed batches")
    ap.add_argument("--min-seconds", type=float, default=5.0,
                    help="and at least this long per measurement (default 5)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    configs = a.config or DEFAULT_CONFIGS
    for c in configs:
        parts = c.split(",")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            ap.error("-c %s: expected R,F,M, e.g. 1,40,5" % c)
    if a.threads < 1 or a.batch < 1 or a.size < 4 or a.size % 4:
        ap.error("threads and batch must be >= 1, size a multiple of 4")
    if a.child or len(configs) == 1:
        run_one(configs[0], a)
        return 0
    rc = 0
    for c in configs:
        args = [sys.executable, os.path.abspath(__file__), "--child", "-c", c,
                "-t", str(a.threads), "-b", str(a.batch), "-s", str(a.size),
                "--reps", str(a.reps), "--min-seconds", str(a.min_seconds)]
        rc |= subprocess.call(args)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
