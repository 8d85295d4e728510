#!/usr/bin/python3
# tests/reference/py_import.py — the Python pcnn-import that pcnn had until the C tool
# (tools/pcnn-import.c) replaced it, kept as the reference the C tool is checked against byte for
# byte: make_import_fixtures.py writes its outputs into tests/fixtures/import/. Needs
# PyTorch and numpy. What it did:
#
# pcnn-import — convert a PyTorch state_dict of the CPEN 455 / pclucas14 PixelCNN++ into a
# pcnn model file (docs/FORMATS.md). Needs PyTorch (Debian: python3-torch).
#
#   pcnn-import [-K N] [--classes A,B,..] [-H 32] [-W 32] state_dict.pth -o model.bin
#
# R, F and M come from the tensor shapes; K from the class terms `<block>.hw` (K x 2F). A
# model without class terms gets zero class terms for K = -K (or the number of --classes,
# or 1). The conditioning variants of SPEC §3b are told by their tensors: `<block>.hs`
# (film: every block needs one) and `class_map` (input: K x 3 x H x W, which fixes the
# image size; -H/-W must then agree with it). Keys may carry a `module.` prefix (DataParallel); the file may hold the state_dict
# itself or a dict with 'state_dict' / 'model_state_dict'. Layers whose weight norm was
# removed (plain `.weight`) are accepted: v = weight, g = |weight| over all axes but 0,
# which gives the same effective weight. Unknown, missing or misshapen tensors are refused.
import argparse
import io
import os
import sys

PROG = "pcnn-import"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as _np  # noqa: E402
from modelfile import ModelFile, ModelFileError, conditioning_of, param_specs, write_model_file  # noqa: E402,F401


def disp(path, out=False):
    return path if path != "-" else ("<stdout>" if out else "<stdin>")


def die(msg, code=1):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.stderr.flush()
    os._exit(code)      # no second flush of a stdout that already failed


def load_torch():
    try:
        import torch
    except ImportError:
        die("PyTorch is not installed for %s (Debian: apt-get install python3-torch)"
            % sys.executable)
    return torch


def load_state_dict(torch, path, unsafe):
    try:
        if path == "-":
            src = io.BytesIO(sys.stdin.buffer.read())
        else:
            src = open(path, "rb")
        with src:
            try:
                obj = torch.load(src, map_location="cpu", weights_only=not unsafe)
            except TypeError:          # torch < 1.13: no weights_only
                obj = torch.load(src, map_location="cpu")
    except OSError as e:
        die("%s: %s" % (disp(path), e.strerror or e))
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if unsafe else (" (if it holds more than tensors, e.g. optimizer state or "
                                  "argparse options, and you trust it, add --unsafe-load)")
        die("%s: cannot read as a PyTorch file: %s%s" % (disp(path), msg, hint))
    if isinstance(obj, dict):
        for k in ("state_dict", "model_state_dict", "model"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not obj:
        die("%s: no state_dict in the file (expected a dict of tensors, or a dict with "
            "'state_dict' or 'model_state_dict')" % disp(path))
    sd = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not torch.is_tensor(v):
            die("%s: entry %r is not a named tensor (is this a state_dict?)" % (disp(path), k))
        if k.startswith("module."):
            k = k[len("module."):]
        if k in sd:
            die("%s: tensor %s appears twice (with and without 'module.')" % (disp(path), k))
        sd[k] = v.detach().to(torch.float64)
    return sd


def main():
    ap = argparse.ArgumentParser(
        prog=PROG, description="Convert a PyTorch PixelCNN++ state_dict (CPEN 455 / "
        "pclucas14 module names, SPEC §3) into a pcnn model file.")
    ap.add_argument("input", help="state_dict file (.pth / .pt), '-' for stdin")
    ap.add_argument("-o", dest="output", required=True, help="model file to write ('-': stdout)")
    ap.add_argument("-K", dest="K", type=int, help="number of classes when the state_dict has "
                    "no class terms (.hw); they are then zero")
    ap.add_argument("--classes", help="class names, comma-separated (default Class0,Class1,..)")
    ap.add_argument("-H", dest="H", type=int, help="image height (default 32, or the "
                    "class_map's)")
    ap.add_argument("-W", dest="W", type=int, help="image width (default 32, or the "
                    "class_map's)")
    ap.add_argument("--unsafe-load", action="store_true", help="allow any pickled Python "
                    "object in the input (only for files you trust)")
    a = ap.parse_args()

    def usage(msg):
        ap.print_usage(sys.stderr)
        die(msg, 2)

    for n, v in (("-H", a.H), ("-W", a.W)):
        if v is not None and (not 4 <= v <= 4096 or v % 4):
            usage("%s %d: must be a multiple of 4 in 4..4096 (the network halves the image "
                  "twice)" % (n, v))
    if a.K is not None and not 1 <= a.K <= 1024:
        usage("-K %d: must be 1..1024" % a.K)
    names = None
    if a.classes is not None:
        names = a.classes.split(",")
        for c in names:
            if not 1 <= len(c.encode()) <= 255 or any(ch in c for ch in "\t\r\n\0,"):
                usage("--classes: bad class name %r (1..255 bytes, no tab, newline, comma)" % c)
        if len(set(names)) != len(names):
            usage("--classes: repeated class name")

    if a.input != "-" and not os.path.exists(a.input):
        die("%s: No such file or directory" % a.input)
    torch = load_torch()
    sd = load_state_dict(torch, a.input, a.unsafe_load)
    src = disp(a.input)

    # Plain `.weight` of a conv/deconv/nin layer (weight norm removed) -> (v, g) with the
    # same effective weight; other `.weight` keys are left to be reported as unknown.
    for k in [k for k in sd if k.endswith((".conv.weight", ".deconv.weight", ".lin_a.weight"))]:
        base = k[:-len(".weight")]
        if base + ".weight_v" in sd or base + ".weight_g" in sd:
            die("%s: %s has both .weight and .weight_v/.weight_g" % (src, base))
        w = sd.pop(k)
        if w.dim() < 2:
            die("%s: %s: a weight with shape %s is not a conv or linear weight"
                % (src, k, tuple(w.shape)))
        sd[base + ".weight_v"] = w
        sd[base + ".weight_g"] = w.flatten(1).norm(dim=1).view((-1,) + (1,) * (w.dim() - 1))

    def shape_of(k):
        if k not in sd:
            die("%s: missing tensor %s (is this a CPEN 455 / pclucas14 PixelCNN++ state_dict? "
                "keys must be as in SPEC §3)" % (src, k))
        return tuple(sd[k].shape)

    F = shape_of("u_init.conv.weight_v")[0]
    M10 = shape_of("nin_out.lin_a.weight_v")[0]
    if M10 % 10:
        die("%s: nin_out has %d outputs, not a multiple of 10 (only 3-channel images with "
            "10 outputs per logistic are supported)" % (src, M10))
    M = M10 // 10
    R = 0
    while "up_layers.0.u_stream.%d.conv_input.conv.weight_v" % R in sd:
        R += 1
    if R == 0:
        die("%s: no up_layers.0.u_stream.0 block found" % src)

    hw_keys = [k for k in sd if k.endswith(".hw")]
    film, inp = conditioning_of(sd)
    H, W = a.H or 32, a.W or 32
    if inp:     # the class image fixes the image size (and K)
        cm = tuple(sd["class_map"].shape)
        if len(cm) != 4 or cm[1] != 3 or not all(4 <= v <= 4096 and v % 4 == 0 for v in cm[2:]):
            die("%s: class_map has shape %s, expected (K, 3, H, W) with H and W multiples "
                "of 4" % (src, cm))
        for n, v, want in (("-H", a.H, cm[2]), ("-W", a.W, cm[3])):
            if v is not None and v != want:
                die("%s: the class map (class_map) is for %dx%d images, %s says %d"
                    % (src, cm[2], cm[3], n, v))
        H, W = cm[2], cm[3]
    if hw_keys:
        K = sd[hw_keys[0]].shape[0]
        if a.K is not None and a.K != K:
            die("%s: the class terms (.hw) are for %d classes, -K says %d" % (src, K, a.K))
    elif inp:
        K = sd["class_map"].shape[0]
        if a.K is not None and a.K != K:
            die("%s: the class map (class_map) is for %d classes, -K says %d" % (src, K, a.K))
    else:
        K = a.K if a.K is not None else (len(names) if names else 1)
    if names is not None and len(names) != K:
        usage("--classes names %d classes, the model has %d" % (len(names), K))
    if names is None:
        names = ["Class%d" % k for k in range(K)]

    specs = param_specs(R, F, M, K, film, (H, W) if inp else None)
    expected = dict(specs)
    unknown = sorted(k for k in sd if k not in expected)
    if unknown:
        die("%s: %d unknown tensor(s), e.g. %s (for R=%d F=%d M=%d; keys must be as in "
            "SPEC §3)" % (src, len(unknown), ", ".join(unknown[:3]), R, F, M))
    missing = [k for k, _ in specs if k not in sd and not (k.endswith(".hw") and not hw_keys)]
    if missing:
        die("%s: %d missing tensor(s), e.g. %s (for R=%d F=%d M=%d K=%d)"
            % (src, len(missing), ", ".join(missing[:3]), R, F, M, K))

    m = ModelFile(R, F, M, K, H, W, 3, names, lr=2e-4,
                  meta={"imported_from": os.path.basename(src)[:255] or "-"})
    for k, shape in specs:
        if k in sd:
            t = sd[k]
            if tuple(t.shape) != shape:
                die("%s: tensor %s has shape %s, expected %s (for R=%d F=%d M=%d K=%d)"
                    % (src, k, tuple(t.shape), shape, R, F, M, K))
            if not bool(torch.isfinite(t).all()):
                die("%s: tensor %s holds NaN or Inf" % (src, k))
            m.tensors[k] = t.to(torch.float32).contiguous().numpy()
        else:
            m.tensors[k] = _np.zeros(shape, _np.float32)
    try:
        write_model_file(a.output, m)
    except OSError as e:
        die("%s: %s (nothing written)" % (disp(a.output, True), e.strerror or e))
    except ModelFileError as e:
        die("%s: %s" % (src, e))
    cond = ",".join(n for n, on in (("film", film), ("input", inp)) if on)
    sys.stderr.write("%s: %s: R=%d F=%d M=%d K=%d H=%d W=%d, %d tensors%s%s\n"
                     % (PROG, disp(a.output, True), R, F, M, K, H, W, len(specs),
                        ", conditioning " + cond if cond else "",
                        "" if hw_keys else " (class terms zero: none in the input)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
