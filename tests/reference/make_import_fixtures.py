#!/usr/bin/python3
# tests/reference/make_import_fixtures.py — remakes tests/fixtures/import/, the inputs and
# expected outputs of tests/bats/import.bats, so that the tests of pcnn-import and
# pcnn-export need no PyTorch (docs/REFERENCE.md). Needs Debian's python3-torch and numpy.
#
#   /usr/bin/python3 tests/reference/make_import_fixtures.py [OUT_DIR]
#
# Writes into OUT_DIR (default tests/fixtures/import/):
#   zip/*.pth      state_dicts of tests/reference/pixelcnn.py saved by torch.save (zip),
#                  one per input form pcnn-import accepts or refuses (table INPUTS below)
#   legacy/*.pth   some of them again with _use_new_zipfile_serialization=False, and the
#                  refused ones (their format does not matter; legacy files are smaller)
#   expect/*.model what the Python pcnn-import (py_import.py, the tool pcnn had before the C
#                  one) makes of each accepted input, with the options of the table: the C
#                  tool must give these bytes (a legacy/ input the same bytes as its zip/
#                  twin: the model file keeps only the input's base name)
#   expect/*.pth   what the Python pcnn-export (torch.save) made of some model files: the C
#                  tool's output must equal it up to its central directory
#   pk.model       a.model with a Polyak copy polyak.<name> = params / 2 (for --polyak)
#   d.bin          a pcnn data file of 5 random 8x12 images, labels 0..2
#   expect/*.scores.tsv  PyTorch's log p(x | c) (float64 on the float32 weights) of d.bin
#                  for every class, as pcnn-score writes it, for two inputs
# The same torch gives the same bytes (fixed seeds), but for legacy/: that format names its
# storages by memory address, so those files change bytes (not content) on every run. Sizes are small (R, F, M) = (1, 2, 1)
# so the files stay a few kilobytes of numbers; the tensor count (187) is a real model's.
import argparse
import collections
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import modelfile  # noqa: E402
from import_check import write_data, read_data  # noqa: E402
from pixelcnn import PixelCNN, pixels_to_input  # noqa: E402

PY = sys.executable


def model_sd(R, F, M, K, film=False, input_hw=None, plain=False):
    """A random state_dict (module registration order, with _metadata as state_dict() has)."""
    torch.manual_seed(12)
    m = PixelCNN(R, F, M, K, film, input_hw)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith((".hw", ".hs")) or n == "class_map":
                p.normal_(0, 0.3)
            if n.endswith("weight_g"):
                p.mul_(1.2)
    if plain:
        for mod in m.modules():
            if hasattr(mod, "weight_g"):
                torch.nn.utils.remove_weight_norm(mod)
    return m.state_dict()


def as_dtypes(sd):
    """Every fourth tensor float64, float16, bfloat16 in turn: what the reader converts."""
    out = collections.OrderedDict()
    kinds = [None, torch.float64, torch.float16, torch.bfloat16]
    for i, (k, v) in enumerate(sd.items()):
        out[k] = v if kinds[i % 4] is None else v.to(kinds[i % 4])
    return out


def as_views(sd):
    """Tensors that are views: weight_v transposed twice (strides not row-major), and the
    bias and weight_g of each layer slices of one storage (storage offsets)."""
    out = collections.OrderedDict()
    for k, v in sd.items():
        if k.endswith(".weight_v") and v.dim() >= 2:
            out[k] = v.transpose(0, 1).contiguous().transpose(0, 1)
        else:
            out[k] = v
    keys = [k for k in out if k.endswith(".bias")]
    for b in keys:
        g = b[:-len("bias")] + "weight_g"
        big = torch.cat([out[g].flatten(), out[b].flatten()])
        out[g] = big[:out[g].numel()].view(out[g].shape)
        out[b] = big[out[g].numel():].view(out[b].shape)
    return out


def inputs():
    """name -> (state_dict or other object, pcnn-import options or None (refused), where):
    where 'zip', 'both' (zip/ and legacy/) or 'legacy' (legacy/ only: the refused inputs, whose
    format does not matter, in the smaller form)"""
    base = model_sd(1, 2, 1, 3)
    b2 = model_sd(1, 2, 1, 2)
    r2 = model_sd(2, 2, 1, 2)
    fi = model_sd(1, 2, 1, 3, film=True, input_hw=(8, 8))
    ci = model_sd(1, 2, 1, 2, input_hw=(8, 12))
    I = collections.OrderedDict()
    I["a.pth"] = (base, "-H 8 -W 8", "both")
    I["r2.pth"] = (r2, "-H 8 -W 8", "zip")
    I["w.pth"] = ({"state_dict": collections.OrderedDict(("module." + k, v) for k, v in b2.items()),
                   "epoch": 3}, "-H 8 -W 12", "both")
    opt = {"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.ones(3)}},
           "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "params": [0]}]}
    I["msd.pth"] = ({"model_state_dict": b2, "optimizer_state_dict": opt, "epoch": 5}, "-H 8 -W 12", "both")
    I["mdl.pth"] = ({"model": b2, "step": 7}, "-H 8 -W 12", "zip")
    I["n.pth"] = (collections.OrderedDict((k, v) for k, v in base.items() if not k.endswith(".hw")),
                  "-K 3 --classes cat,dog,owl", "zip")
    I["b.pth"] = (b2, "-H 8 -W 12", "zip")
    I["p.pth"] = (model_sd(1, 2, 1, 2, plain=True), "-H 8 -W 12", "both")
    I["fi.pth"] = (fi, "", "both")
    I["fo.pth"] = (model_sd(1, 2, 1, 2, film=True), "-H 8 -W 8", "zip")
    I["ci.pth"] = (ci, "", "zip")
    I["dt.pth"] = (as_dtypes(b2), "-H 8 -W 12", "both")
    I["st.pth"] = (as_views(b2), "-H 8 -W 12", "both")
    # integer values where floats belong: converted, as the Python tool's .to(float64) did
    I["int.pth"] = (collections.OrderedDict((k, (v * 4).round().to(torch.int32) if k.endswith(".bias") else
                                             v.bool() if k.endswith(".hw") else v) for k, v in b2.items()),
                    "-H 8 -W 12", "zip")
    I["sc.pth"] = (model_sd(1, 4, 2, 3), "-H 8 -W 12", "zip")
    I["fsc.pth"] = (model_sd(2, 3, 2, 3, film=True, input_hw=(8, 12)), "", "zip")
    # the class image of one public CPEN 455 solution: embedding.weight (K, 3*H*W)
    emb = collections.OrderedDict((("embedding.weight", v.reshape(v.shape[0], -1)) if k == "class_map"
                                   else (k, v)) for k, v in ci.items())
    I["emb.pth"] = (emb, None, "zip")
    embsq = collections.OrderedDict((("embedding.weight", v.reshape(v.shape[0], -1)) if k == "class_map"
                                     else (k, v)) for k, v in fi.items())
    I["embsq.pth"] = (embsq, None, "zip")
    # refused
    x = collections.OrderedDict(b2)
    x["up_layers.0.u_stream.0.film.weight"] = torch.zeros(3)
    I["x.pth"] = (x, None, "legacy")
    I["d.pth"] = (collections.OrderedDict((k, v) for k, v in b2.items() if k != "nin_out.lin_a.bias"), None, "legacy")
    s = collections.OrderedDict(b2)
    s["nin_out.lin_a.bias"] = torch.zeros(7)
    I["s.pth"] = (s, None, "legacy")
    I["dh.pth"] = (collections.OrderedDict((k, v) for k, v in model_sd(1, 2, 1, 2, film=True).items()
                                           if k != "down_layers.1.ul_stream.0.hs"), None, "legacy")
    both = collections.OrderedDict(b2)
    both["nin_out.lin_a.weight"] = b2["nin_out.lin_a.weight_v"]
    I["both.pth"] = (both, None, "legacy")
    I["dup.pth"] = (collections.OrderedDict([("nin_out.lin_a.bias", torch.zeros(10)),
                                             ("module.nin_out.lin_a.bias", torch.zeros(10))]), None, "both")
    I["nt.pth"] = (collections.OrderedDict([("u_init.conv.weight_v", torch.zeros(2, 4, 2, 3)), ("step", 3)]),
                   None, "both")
    I["cm.pth"] = (collections.OrderedDict((k, v[:, :, :, :10] if k == "class_map" else v)
                                           for k, v in ci.items()), None, "legacy")
    I["lst.pth"] = ([torch.zeros(3)], None, "both")
    return I


def run(*args):
    r = subprocess.run([PY] + list(args), capture_output=True, text=True)
    if r.returncode:
        sys.exit("make_import_fixtures: %s failed: %s" % (" ".join(args), r.stderr.strip()))


def scores_tsv(path, sd, data):
    """PyTorch's log p(x | c) of every image in data for every class, as pcnn-score writes."""
    F = sd["u_init.conv.weight_v"].shape[0]
    M = sd["nin_out.lin_a.weight_v"].shape[0] // 10
    R = len({k.split(".")[3] for k in sd if k.startswith("up_layers.0.u_stream.")})
    K = sd["up_layers.0.u_stream.0.hw"].shape[0]
    film, inp = modelfile.conditioning_of(sd)
    m = PixelCNN(R, F, M, K, film, tuple(sd["class_map"].shape[2:]) if inp else None).double()
    m.load_state_dict({k: v.double() for k, v in sd.items()})
    imgs = read_data(data)
    with torch.no_grad():
        lp = m.eval().log_prob_all_classes(pixels_to_input(torch.from_numpy(imgs).double()).double()).numpy()
    with open(path, "w") as f:
        f.write("id\tlabel\t" + "\t".join("Class%d" % k for k in range(K)) + "\n")
        for n in range(len(imgs)):
            f.write("img/%d.png\t%d\t" % (n, n % K) + "\t".join("%.17g" % v for v in lp[n]) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=os.path.join(HERE, "..", "fixtures", "import"))
    out = os.path.abspath(ap.parse_args().out)
    for sub in ("zip", "legacy", "expect"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
        os.makedirs(os.path.join(out, sub))
    I = inputs()
    for name, (obj, opts, where) in I.items():
        if where != "legacy":
            torch.save(obj, os.path.join(out, "zip", name))
        if where != "zip":
            torch.save(obj, os.path.join(out, "legacy", name), _use_new_zipfile_serialization=False)
        if opts is not None:
            run(os.path.join(HERE, "py_import.py"), *opts.split(), "--unsafe-load",
                os.path.join(out, "zip", name), "-o", os.path.join(out, "expect", name[:-4] + ".model"))
    # a Polyak copy, and what the Python pcnn-export made of three model files
    m = modelfile.read_model_file(os.path.join(out, "expect", "a.model"))
    for k, v in list(m.tensors.items()):
        m.tensors["polyak." + k] = v * np.float32(0.5)
    modelfile.write_model_file(os.path.join(out, "pk.model"), m)
    for src, dst, extra in [("expect/a.model", "a.pth", []), ("expect/fi.model", "fi.pth", []),
                            ("pk.model", "pk.polyak.pth", ["--polyak"])]:
        run(os.path.join(HERE, "py_export.py"), *extra, os.path.join(out, src), "-o",
            os.path.join(out, "expect", dst))
    write_data([os.path.join(out, "d.bin"), "8", "12", "3", "5"])
    for name in ("sc.pth", "fsc.pth"):
        scores_tsv(os.path.join(out, "expect", name[:-4] + ".scores.tsv"), I[name][0], os.path.join(out, "d.bin"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print("make_import_fixtures: wrote %s (%d KiB)" % (out, total // 1024))


if __name__ == "__main__":
    main()
