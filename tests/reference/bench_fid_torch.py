#!/usr/bin/python3
"""bench_fid_torch.py — the PyTorch side of `make bench-fid`: pytorch-fid's recipe on the CPU.

    /usr/bin/python3 tests/reference/bench_fid_torch.py -t THREADS --dims 192 WEIGHTS DIR_A DIR_B

The same computation as pytorch-fid's fid_score.py with its InceptionV3 cut after the block
that gives DIMS (the blocks pytorch-fid builds for dims 64/192): PIL decode .convert('RGB'),
ToTensor, batches of 50, F.interpolate to 299 (bilinear, align_corners=False), 2x - 1,
BasicConv2d = conv + batch norm (eval, eps 0.001) + relu, max pools, global average, then
numpy mean/cov and scipy.linalg.sqrtm (numpy eig without scipy). Float32, no grad.
Prints "torch<TAB>seconds<TAB>images<TAB>fid" on stdout (time from the first decode to the FID).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fid import LAYERS, frechet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("--dims", type=int, default=192)
    ap.add_argument("-b", "--batch", type=int, default=50)
    ap.add_argument("weights")
    ap.add_argument("dirs", nargs=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sd = torch.load(a.weights)
    nl = 3 if a.dims == 64 else 5
    layers = []
    for name, cin, cout, k, s, p in LAYERS[:nl]:
        conv = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=False)
        bn = torch.nn.BatchNorm2d(cout, eps=0.001)
        conv.weight.data.copy_(sd[name + ".conv.weight"])
        for t in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, t).data.copy_(sd[name + ".bn." + t])
        layers += [conv, bn, torch.nn.ReLU(inplace=True)]
        if name in ("Conv2d_2b_3x3", "Conv2d_4a_3x3"):   # pytorch-fid's two max pools
            layers.append(torch.nn.MaxPool2d(3, 2))
    net = torch.nn.Sequential(*layers).eval()
    t0 = time.time()
    feats = []
    n = 0
    with torch.no_grad():
        for d in a.dirs:
            files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.lower().endswith((".png", ".jpg", ".jpeg")))
            out = []
            for i in range(0, len(files), a.batch):
                x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).float() / 255
                                 for f in files[i:i + a.batch]]) if len({Image.open(f).size for f in files[i:i + a.batch]}) == 1 else None
                if x is None:   # mixed sizes: resize one by one (pytorch-fid would need equal sizes per batch)
                    x = torch.cat([F.interpolate(torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None].float() / 255,
                                                 size=(299, 299), mode="bilinear", align_corners=False) for f in files[i:i + a.batch]])
                else:
                    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                x = 2 * x - 1
                out.append(net(x).mean(dim=(2, 3)).numpy())
            f = np.concatenate(out).astype(np.float64)
            n += len(f)
            feats.append(f)
    fid = frechet(feats[0].mean(0), np.cov(feats[0], rowvar=False), feats[1].mean(0), np.cov(feats[1], rowvar=False))
    print("torch\t%.3f\t%d\t%.6f" % (time.time() - t0, n, fid))


if __name__ == "__main__":
    main()
