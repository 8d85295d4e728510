#!/usr/bin/python3
"""make_fid.py — the fixtures of pcnn-fid's tests (tests/fixtures/fid/), from PyTorch.

    /usr/bin/python3 tests/reference/make_fid.py [OUTDIR]     (default tests/fixtures/fid)

Debian's python3 with torch 1.13, numpy and PIL; scipy (python3-scipy) when present, for
scipy.linalg.sqrtm exactly as pytorch-fid's calculate_frechet_distance calls it (without it,
numpy's eig gives tr sqrtm(S1 S2) as the sum of the square roots of the eigenvalues, which
is the same number). Writes:

  inception.pth        the first five BasicConv2d layers of pytorch-fid's InceptionV3 with
                       random weights, as a state_dict with torchvision's names
                       (Conv2d_1a_3x3.conv.weight, Conv2d_1a_3x3.bn.running_mean, ...;
                       num_batches_tracked int64 as in the real file) plus two tensors a
                       dims <= 192 run does not read (Mixed_5b..., fc.bias): torch.save,
                       the zip format
  inception-legacy.pth the same state_dict, torch.save(..., _use_new_zipfile_serialization=False)
  a/, b/               a few tiny PNG and JPEG images (and a text file pcnn-fid ignores)
  expected.txt         lines "feat DIMS FILE v1 ... vDIMS" (per image, features of the
                       recipe below in float64) and "fid DIMS VALUE" (a/ against b/),
                       then "fidsyn DIMS NA NB VALUE" for synthetic feature sets (below)

The recipe is pytorch-fid's (fid_score.py + inception.py, blocks 0 and 1): PIL
.convert('RGB'), ToTensor (x / 255), F.interpolate(size=(299, 299), mode='bilinear',
align_corners=False), 2x - 1; BasicConv2d = conv (no bias), batch_norm eval (eps 0.001),
relu; Conv2d_1a_3x3 (stride 2), Conv2d_2a_3x3, Conv2d_2b_3x3 (padding 1), max_pool 3/2 →
64 channels; Conv2d_3b_1x1, Conv2d_4a_3x3, max_pool 3/2 → 192; global average pooling.
Everything here is float64 (the truth; pcnn computes in float32).

Synthetic sets (test_fid's check of the FID math alone, with N > dims and N < dims):
feature j of row i of set s is sin(0.37 (i + 1) (j + 1) + 1.3 s + 0.01 j) + 0.1 cos(i + s)
computed in float64, the same formula in tests/unit/test_fid.c.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

try:
    from scipy import linalg as scipy_linalg
except ImportError:
    scipy_linalg = None

LAYERS = [  # name, Cin, Cout, k, stride, padding
    ("Conv2d_1a_3x3", 3, 32, 3, 2, 0),
    ("Conv2d_2a_3x3", 32, 32, 3, 1, 0),
    ("Conv2d_2b_3x3", 32, 64, 3, 1, 1),
    ("Conv2d_3b_1x1", 64, 80, 1, 1, 0),
    ("Conv2d_4a_3x3", 80, 192, 3, 1, 0),
]


class BasicConv2d(torch.nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, k, bias=False)
        self.bn = torch.nn.BatchNorm2d(cout, eps=0.001)


def make_state_dict(g):
    """module.state_dict() of torchvision's names (so it carries _metadata, as the real file)."""
    sd = {}
    for name, cin, cout, k, _, _ in LAYERS:
        fan_in = cin * k * k
        sd[name + ".conv.weight"] = (torch.randn(cout, cin, k, k, generator=g) * (2.0 / fan_in) ** 0.5)
        sd[name + ".bn.weight"] = torch.rand(cout, generator=g) + 0.5
        sd[name + ".bn.bias"] = torch.rand(cout, generator=g) * 0.4 - 0.2
        sd[name + ".bn.running_mean"] = torch.randn(cout, generator=g) * 0.1
        sd[name + ".bn.running_var"] = torch.rand(cout, generator=g) * 1.5 + 0.5
        sd[name + ".bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    # tensors of the real file that dims <= 192 never reads
    sd["Mixed_5b.branch1x1.conv.weight"] = torch.randn(64, 192, 1, 1, generator=g)
    sd["fc.bias"] = torch.randn(1008, generator=g)
    net = torch.nn.Module()
    for name, cin, cout, k, _, _ in LAYERS:
        setattr(net, name, BasicConv2d(cin, cout, k))
    extra = {k: v for k, v in sd.items() if not k.startswith("Conv2d_")}
    net.load_state_dict({k: v for k, v in sd.items() if k.startswith("Conv2d_")})
    out = net.state_dict()
    out.update(extra)   # the OrderedDict keeps its _metadata
    return out


def features(sd, img):
    """img: H x W x 3 uint8 -> (64 features, 192 features), float64."""
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].double() / 255.0
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = 2 * x - 1
    out = []
    for i, (name, _, _, _, s, p) in enumerate(LAYERS):
        w = sd[name + ".conv.weight"].double()
        x = F.conv2d(x, w, stride=s, padding=p)
        x = F.batch_norm(x, sd[name + ".bn.running_mean"].double(), sd[name + ".bn.running_var"].double(),
                         sd[name + ".bn.weight"].double(), sd[name + ".bn.bias"].double(),
                         training=False, eps=0.001)
        x = F.relu(x)
        if i == 2 or i == 4:
            x = F.max_pool2d(x, kernel_size=3, stride=2)
            out.append(x.mean(dim=(2, 3))[0].numpy())
    return out


def frechet(mu1, s1, mu2, s2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance (scipy's sqrtm), or numpy's eig without scipy."""
    diff = mu1 - mu2
    if scipy_linalg is not None:
        covmean, _ = scipy_linalg.sqrtm(s1.dot(s2), disp=False)
        if not np.isfinite(covmean).all():
            print("make_fid: singular product; adding %g to the diagonals" % eps, file=sys.stderr)
            off = np.eye(s1.shape[0]) * eps
            covmean = scipy_linalg.sqrtm((s1 + off).dot(s2 + off))
        if np.iscomplexobj(covmean):
            covmean = covmean.real
        tr = np.trace(covmean)
    else:
        tr = np.sqrt(np.linalg.eigvals(s1.dot(s2)).astype(complex)).real.sum()
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * tr)


def fid_of(fa, fb):
    fa, fb = np.asarray(fa), np.asarray(fb)
    return frechet(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))


def synthetic(n, dims, s):
    i = np.arange(n, dtype=np.float64)[:, None]
    j = np.arange(dims, dtype=np.float64)[None, :]
    return np.sin(0.37 * (i + 1) * (j + 1) + 1.3 * s + 0.01 * j) + 0.1 * np.cos(i + s)


def make_images(out, rng):
    """Small smooth images (so JPEG stays small), in every colour type the decoder takes."""
    def smooth(h, w, noise=6.0):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        im = np.zeros((h, w, 3))
        for c in range(3):
            a, b, ph = rng.uniform(0.1, 0.6, 3)
            im[..., c] = 127.5 + 120 * np.sin(a * yy + ph * 6) * np.cos(b * xx + c)
        im += rng.normal(0, noise, im.shape)
        return np.clip(np.round(im), 0, 255).astype(np.uint8)

    os.makedirs(os.path.join(out, "a"), exist_ok=True)
    os.makedirs(os.path.join(out, "b"), exist_ok=True)
    Image.fromarray(smooth(32, 32)).save(os.path.join(out, "a", "a0.png"))
    Image.fromarray(smooth(32, 32)).save(os.path.join(out, "a", "a1.jpg"), quality=90)
    Image.fromarray(smooth(17, 20)[..., 0]).save(os.path.join(out, "a", "a2.png"))          # gray
    Image.fromarray(np.dstack([smooth(13, 9), np.full((13, 9), 200, np.uint8)])).save(
        os.path.join(out, "a", "a3.png"))                                                    # RGBA
    Image.fromarray(smooth(24, 40)).save(os.path.join(out, "a", "a4.JPEG"), quality=85)
    with open(os.path.join(out, "a", "notes.txt"), "w") as f:
        f.write("not an image: pcnn-fid reads *.png, *.jpg and *.jpeg only\n")
    Image.fromarray(smooth(32, 32)).save(os.path.join(out, "b", "b0.png"))
    Image.fromarray(smooth(32, 32)).save(os.path.join(out, "b", "b1.jpg"), quality=95)
    Image.fromarray(smooth(32, 32)).convert("P", palette=Image.ADAPTIVE, colors=16).save(
        os.path.join(out, "b", "b2.png"))                                                    # palette
    Image.fromarray(smooth(300, 301, noise=0)).save(os.path.join(out, "b", "b3.jpg"), quality=60)   # shrunk
    Image.fromarray(smooth(32, 32)).save(os.path.join(out, "b", "b4.jpeg"), quality=75)
    Image.fromarray(smooth(32, 32)).save(os.path.join(out, "b", "b5.png"))


def image_files(d):
    ext = (".png", ".jpg", ".jpeg")
    return sorted(f for f in os.listdir(d) if f.lower().endswith(ext))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "fid")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(14)
    rng = np.random.default_rng(14)
    sd = make_state_dict(g)
    torch.save(sd, os.path.join(out, "inception.pth"))
    torch.save(sd, os.path.join(out, "inception-legacy.pth"), _use_new_zipfile_serialization=False)
    make_images(out, rng)
    lines = []
    feats = {}
    for d in ("a", "b"):
        feats[d] = ([], [])
        for f in image_files(os.path.join(out, d)):
            img = np.array(Image.open(os.path.join(out, d, f)).convert("RGB"))
            f64, f192 = features(sd, img)
            feats[d][0].append(f64)
            feats[d][1].append(f192)
            for v in (f64, f192):
                lines.append("feat %d %s/%s %s" % (len(v), d, f, " ".join("%.10g" % x for x in v)))
    for k, dims in enumerate((64, 192)):
        lines.append("fid %d %.10g" % (dims, fid_of(feats["a"][k], feats["b"][k])))
    for dims, na, nb in ((64, 300, 250), (192, 400, 350), (192, 30, 45)):
        v = fid_of(synthetic(na, dims, 0), synthetic(nb, dims, 1))
        lines.append("fidsyn %d %d %d %.10g" % (dims, na, nb, v))
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("make_fid: wrote %s (%s)" % (out, "scipy sqrtm" if scipy_linalg else "numpy eig"))


if __name__ == "__main__":
    main()
