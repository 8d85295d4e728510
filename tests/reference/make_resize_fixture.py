#!/usr/bin/python3
"""Expected 32x32 resizes from torchvision, for tests/unit/test_resize.c and tests/bats/prep.bats.

    /usr/bin/python3 tests/reference/make_resize_fixture.py

Needs Debian's python3-torchvision (torch 1.13, torchvision 0.14) and PIL; CI does not run it:
its outputs are committed. For every source image it follows the CPEN 455 starter's
pipeline with SPEC §2's filter:

    PIL decode -> RGB (gray replicated) -> to_tensor (float in [0, 1], C x H x W)
    -> torchvision.transforms.functional.resize(x, [32, 32], antialias=True)   (bilinear)
    -> round(x * 255) -> uint8

and writes the result as a binary PPM (P6). Sources:
  tests/fixtures/prep/resize/*.png|jpg    synthetic, made by tests/fixtures/prep/make_fixtures.py
      -> tests/fixtures/prep/resize/expected/<name>.ppm
  ../shared/cpen455/<the 8 images in CPEN455_IMAGES> (only when that folder exists)
      -> tests/fixtures/prep/resize/expected/cpen455/<split>_<file>.ppm  and the list cpen455.csv
      (only these derived 32x32 outputs are committed, never the course's images)
It also prints how far the uint8-tensor path of torchvision (resize on the uint8 image)
is from the float path, for the record.
"""
import glob
import os

import torch
import torchvision.transforms.functional as TF
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures", "prep", "resize")
CPEN455 = os.environ.get("CPEN455", os.path.join(ROOT, "..", "shared", "cpen455"))
# Eight real images: both splits with labels, and train/0000208.jpg, one of the 12 gray ones.
CPEN455_IMAGES = ["train/0000001.jpg", "train/0000002.jpg", "train/0000208.jpg", "train/0001000.jpg",
                  "validation/0000009.jpg", "validation/0000015.jpg", "test/0000021.jpg", "test/0000027.jpg"]


def expected(path, size=(32, 32)):
    im = Image.open(path).convert("RGB")
    x = TF.to_tensor(im)                                             # float, [0, 1]
    y = TF.resize(x, list(size), interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    out = torch.round(y * 255).clamp(0, 255).to(torch.uint8)
    u = TF.resize(TF.pil_to_tensor(im), list(size), interpolation=TF.InterpolationMode.BILINEAR,
                  antialias=True)                                    # the uint8 path
    d = (u.int() - out.int()).abs().max().item()
    return out.permute(1, 2, 0).contiguous().numpy(), d


def write_ppm(path, a):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]))
        f.write(a.tobytes())


def main():
    worst = 0
    for src in sorted(glob.glob(os.path.join(FIX, "*.png")) + glob.glob(os.path.join(FIX, "*.jpg"))):
        a, d = expected(src)
        worst = max(worst, d)
        write_ppm(os.path.join(FIX, "expected", os.path.splitext(os.path.basename(src))[0] + ".ppm"), a)
    if os.path.isdir(CPEN455):
        lines = []
        for rel in CPEN455_IMAGES:
            a, d = expected(os.path.join(CPEN455, rel))
            worst = max(worst, d)
            name = rel.replace("/", "_").replace(".jpg", ".ppm")
            write_ppm(os.path.join(FIX, "expected", "cpen455", name), a)
            lines.append("%s,%s\n" % (rel, name))
        with open(os.path.join(FIX, "expected", "cpen455.csv"), "w") as f:
            f.writelines(lines)
    else:
        print("no CPEN 455 folder at", CPEN455, "- real-image expectations not remade")
    print("torchvision uint8 path vs float path: max |diff| =", worst)


if __name__ == "__main__":
    main()
