#!/usr/bin/python3
# tests/reference/py_export.py — the Python pcnn-export that pcnn had until the C tool
# (tools/pcnn-export.c) replaced it, kept as the reference the C tool is checked against byte for
# byte: make_import_fixtures.py writes its outputs into tests/fixtures/import/. Needs
# PyTorch and numpy. What it did:
#
# pcnn-export — write the parameters of a pcnn model file as a PyTorch state_dict (.pth)
# with the CPEN 455 / pclucas14 PixelCNN++ names of SPEC §3 (class terms `<block>.hw`
# included; the variants' `<block>.hs` and `class_map` of SPEC §3b when the model has
# them), loadable with model.load_state_dict(torch.load(path)). Needs PyTorch.
#
#   pcnn-export [--polyak] model.bin -o state_dict.pth
#
# --polyak exports the Polyak-averaged copy ("polyak.<name>") instead of the raw weights.
import argparse
import io
import os
import sys

PROG = "pcnn-export"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as _np  # noqa: E402
from modelfile import ModelFileError, conditioning_of, param_specs, read_model_file, write_bytes_atomic  # noqa: E402,F401


def disp(path, out=False):
    return path if path != "-" else ("<stdout>" if out else "<stdin>")


def die(msg, code=1):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.stderr.flush()
    os._exit(code)      # no second flush of a stdout that already failed


def main():
    ap = argparse.ArgumentParser(
        prog=PROG, description="Write a pcnn model file's parameters as a PyTorch state_dict "
        "(SPEC §3 names).")
    ap.add_argument("input", help="pcnn model file, '-' for stdin")
    ap.add_argument("-o", dest="output", required=True, help=".pth file to write ('-': stdout)")
    ap.add_argument("--polyak", action="store_true",
                    help="export the Polyak-averaged weights (polyak.<name>)")
    a = ap.parse_args()
    src = disp(a.input)
    try:
        m = read_model_file(a.input)
    except OSError as e:
        die("%s: %s" % (src, e.strerror or e))
    except ModelFileError as e:
        die("%s: %s (make it again with pcnn-fit or pcnn-import)" % (src, e))
    film, inp = conditioning_of(m.tensors)
    specs = param_specs(m.R, m.F, m.M, m.K, film, (m.H, m.W) if inp else None)
    for name, shape in specs:
        key = "polyak." + name if a.polyak else name
        if key not in m.tensors:
            if a.polyak:
                die("%s: no Polyak weights (%s missing); export without --polyak"
                    % (src, key))
            die("%s: missing parameter %s (damaged model file?)" % (src, key))
    try:
        import torch          # after the checks: importing it takes seconds
    except ImportError:
        die("PyTorch is not installed for %s (Debian: apt-get install python3-torch)"
            % sys.executable)
    from collections import OrderedDict
    sd = OrderedDict()
    for name, shape in specs:
        key = "polyak." + name if a.polyak else name   # present: checked above
        t = m.tensors[key]
        if tuple(t.shape) != shape:
            die("%s: %s has shape %s, expected %s" % (src, key, tuple(t.shape), shape))
        sd[name] = torch.from_numpy(_np.array(t, dtype=_np.float32))
    buf = io.BytesIO()
    torch.save(sd, buf)
    data = buf.getvalue()
    try:
        write_bytes_atomic(a.output, data)
    except OSError as e:
        die("%s: %s (nothing written)" % (disp(a.output, True), e.strerror or e))
    cond = ",".join(n for n, on in (("film", film), ("input", inp)) if on)
    sys.stderr.write("%s: %s: %d tensors, R=%d F=%d M=%d K=%d%s%s\n"
                     % (PROG, disp(a.output, True), len(sd), m.R, m.F, m.M, m.K,
                        ", conditioning " + cond if cond else "",
                        " (Polyak weights)" if a.polyak else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
