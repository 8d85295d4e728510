#!/usr/bin/env python3
# tests/reference/bench_gpu_torch.py — the PyTorch side of `make bench-gpu`:
# the reference model (tests/reference/pixelcnn.py, the CPEN 455 starter
# architecture with the class term) timed on the GPU in eager float32 and in
# its fastest form (bf16 autocast + channels_last, then torch.compile when it
# works), at (R, F, M) = (5, 160, 10) and (1, 40, 5), batch 64, 32x32, K = 4, and the
# training rate alone at (1, 160, 5) (issue 27's third training size).
#
#   python3 tests/reference/bench_gpu_torch.py --out results/torch.tsv [--quick]
#           [--notes results/torch-notes.txt] [--no-compile]
#
# The eager forms of both sizes run first, torch.compile last (its compilation takes
# minutes at (5,160,10); a caller's timeout then still leaves every eager row). --notes
# FILE gets one line per case as it starts and as it ends: done (with torch.compile's
# compilation time, the warm-up steps, apart from its steady rate), or FAILED with the
# exception's type and first line (the whole traceback goes to stderr), so a missing
# compile row always says why: make check-gpu copies these lines into results.md.
#
# Writes TSV rows: impl, mode, size, metric, value, unit. Metrics:
#   train_img_s      training images/s (forward + backward + Adam), median of steps
#   epoch_s          one CPEN 455 epoch (4159 images) at that rate
#   score_s          log p(x | c) for 519 images x 4 classes (eval, no grad)
#   sample_s         100 images (25 per class), naive sampler (H*W network passes)
#   peak_gib         peak allocated GPU memory during training
#   compile_s        torch.compile only: the first training step (tracing, compiling,
#                    autotuning), not counted in train_img_s
# Random pixels: speed does not depend on content. Needs a CUDA GPU.
import argparse
import os
import statistics
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pixelcnn import PixelCNN, discretized_mix_logistic_loglik  # noqa: E402

K, H, W, B = 4, 32, 32, 64


def sync():
    torch.cuda.synchronize()


def timed(fn, warm=2, reps=5):
    for _ in range(warm):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def sample_dmol(l, M):
    """SPEC §5 from the raw output l (N, 10M) at one position -> (N, 3) in [-1, 1]."""
    N = l.shape[0]
    logits = l[:, :M]
    p = l[:, M:].reshape(N, 3, 3 * M)
    u = torch.rand_like(logits) * (1 - 2e-5) + 1e-5
    k = torch.argmax(logits - torch.log(-torch.log(u)), dim=1)
    sel = lambda t: t.gather(2, k.view(N, 1, 1).expand(N, 3, 1)).squeeze(2)  # noqa: E731
    mu, s, co = sel(p[:, :, :M]), sel(torch.clamp(p[:, :, M:2 * M], min=-7.0)), sel(torch.tanh(p[:, :, 2 * M:]))
    u = torch.rand_like(mu) * (1 - 2e-5) + 1e-5
    v = mu + torch.exp(s) * (torch.log(u) - torch.log(1 - u))
    x0 = torch.clamp(v[:, 0], -1, 1)
    x1 = torch.clamp(v[:, 1] + co[:, 0] * x0, -1, 1)
    x2 = torch.clamp(v[:, 2] + co[:, 1] * x0 + co[:, 2] * x1, -1, 1)
    return torch.stack([x0, x1, x2], dim=1)


TRAIN_ONLY = {(1, 160, 5)}   # sizes timed for training only


def bench(size, mode, rows, quick):
    R, F, M = size
    tag = "%d,%d,%d" % size
    dev = torch.device("cuda")
    torch.manual_seed(1)
    model = PixelCNN(R=R, F=F, M=M, K=K).to(dev)
    fmt = torch.channels_last if mode != "eager-fp32" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x = (torch.randint(0, 256, (B, 3, H, W), device=dev).float() / 255 - 0.5) * 2
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, K, (B,), device=dev)
    amp = mode != "eager-fp32"
    fwd = model
    if mode == "bf16-cl-compile":
        fwd = torch.compile(model)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = fwd(x, y)
        loss = -discretized_mix_logistic_loglik(x, out.float()).mean()
        loss.backward()
        opt.step()

    torch.cuda.reset_peak_memory_stats()
    if mode == "bf16-cl-compile":
        t0 = time.perf_counter()
        step()   # traces and compiles forward and backward
        sync()
        rows.append(("torch", mode, tag, "compile_s", time.perf_counter() - t0, "s"))
    t = timed(step, warm=3, reps=3 if quick else 10)
    rows.append(("torch", mode, tag, "train_img_s", B / t, "img/s"))
    rows.append(("torch", mode, tag, "epoch_s", 4159 / (B / t), "s"))
    rows.append(("torch", mode, tag, "peak_gib", torch.cuda.max_memory_allocated() / 2**30, "GiB"))
    if size in TRAIN_ONLY:
        return

    xs = (torch.randint(0, 256, (519, 3, H, W), device=dev).float() / 255 - 0.5) * 2
    xs = xs.contiguous(memory_format=fmt)

    @torch.no_grad()
    def score():
        for i in range(0, 519, B):
            xb = xs[i:i + B]
            for c in range(K):
                yc = torch.full((xb.shape[0],), c, device=dev, dtype=torch.long)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    out = fwd(xb, yc)
                discretized_mix_logistic_loglik(xb, out.float())

    rows.append(("torch", mode, tag, "score_s", timed(score, warm=1, reps=2 if quick else 3), "s"))

    if mode == "bf16-cl-compile":
        return   # sampling with compile recompiles per shape; the eager forms are timed

    @torch.no_grad()
    def sample():
        xg = torch.zeros(100, 3, H, W, device=dev).contiguous(memory_format=fmt)
        yg = torch.arange(100, device=dev) // 25
        for i in range(H if not quick else 2):
            for j in range(W):
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    out = model(xg, yg)
                xg[:, :, i, j] = sample_dmol(out[:, :, i, j].float(), M)

    t = timed(sample, warm=0, reps=1)
    if quick:
        t *= H / 2
    rows.append(("torch", mode, tag, "sample_s", t, "s"))


def note(path, line):
    """One line to the notes file (flushed at once: a timeout keeps it) and to stderr."""
    print("bench_gpu_torch: " + line, file=sys.stderr, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--notes", help="one line per case: started, done or FAILED and why")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu_torch: no CUDA GPU visible to PyTorch", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    rows = []
    sizes = [(5, 160, 10), (1, 40, 5), (1, 160, 5)]
    cases = [(s, m) for m in ["eager-fp32", "bf16-cl"] for s in sizes]
    if a.no_compile:
        note(a.notes, "torch.compile: not run (--no-compile)")
    else:
        cases += [(s, "bf16-cl-compile") for s in sizes]
    note(a.notes, "torch %s, CUDA %s, %s" % (torch.__version__, torch.version.cuda,
                                             torch.cuda.get_device_name(0)))
    nfail = 0
    for size, mode in cases:
        what = "%s (%d,%d,%d)" % ((mode,) + size)
        note(a.notes, what + ": started")
        t0 = time.time()
        try:
            bench(size, mode, rows, a.quick)
            note(a.notes, "%s: done in %.0f s" % (what, time.time() - t0))
        except Exception as e:  # torch.compile may be missing or fail: say why, go on
            nfail += 1
            traceback.print_exc()
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            note(a.notes, "%s: FAILED after %.0f s: %s: %s" % (what, time.time() - t0,
                                                             type(e).__name__, first[:300]))
            if hasattr(torch, "_dynamo"):
                torch._dynamo.reset()   # the next case starts without the failed graphs
        with open(a.out, "w") as f:   # rewritten after every case: a timeout keeps what ran
            for r in rows:
                f.write("\t".join(str(v) if not isinstance(v, float) else "%.4g" % v for v in r) + "\n")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
