#!/usr/bin/python3
# tests/reference/import_check.py — the one check of tests/bats/import.bats that needs
# PyTorch (the others run from the committed fixtures of make_import_fixtures.py), and the
# data file helpers that script uses.
#
#   import_check.py torch-load [--polyak] MODEL.bin STATE_DICT.pth [DATA.bin SCORES.tsv]
#       STATE_DICT.pth (pcnn-export's output) loads with torch.load(weights_only=True);
#       its names are the SPEC §3 state_dict's, in order, and every tensor equals the model
#       file's parameter (with --polyak: its polyak.<name>) bit for bit; it loads into tests/reference/pixelcnn.py's model with
#       load_state_dict(strict=True), as into the CPEN 455 starter's; and with DATA and
#       SCORES (pcnn-score's TSV of MODEL on DATA) that model's log p(x | c), float64 on the
#       float32 weights, equals pcnn-score's within 1e-4 relative. Exit 1 on a difference.
#   import_check.py write-data OUT.bin H W K N     a pcnn data file of N random images
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelfile  # noqa: E402


def fail(msg):
    print("import_check: " + msg)
    sys.exit(1)


def write_data(a):
    out, H, W, K, N = a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4])
    rng = np.random.default_rng(3)
    hdr = b"PCNNDATA" + struct.pack("<5IQ", 1, H, W, 3, K, N)
    for k in range(K):
        name = ("Class%d" % k).encode()
        hdr += struct.pack("<H", len(name)) + name
    parts = [hdr, struct.pack("<I", zlib.crc32(hdr))]
    for n in range(N):
        px = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        px[0, 0] = 0
        px[-1, -1] = 255
        ident = ("img/%d.png" % n).encode()
        rec = struct.pack("<H", len(ident)) + ident + struct.pack("<i", n % K) + px.tobytes()
        parts += [rec, struct.pack("<I", zlib.crc32(rec))]
    end = struct.pack("<HQ", 0xFFFF, N)
    parts += [end, struct.pack("<I", zlib.crc32(end))]
    with open(out, "wb") as f:
        f.write(b"".join(parts))


def read_data(path):
    d = open(path, "rb").read()
    H, W, C, K, N = struct.unpack("<4IQ", d[12:36])
    pos = 36
    for _ in range(K):
        (n,) = struct.unpack("<H", d[pos:pos + 2])
        pos += 2 + n
    pos += 4
    imgs = []
    for _ in range(N):
        (n,) = struct.unpack("<H", d[pos:pos + 2])
        pos += 2 + n + 4
        imgs.append(np.frombuffer(d[pos:pos + H * W * C], np.uint8).reshape(H, W, C))
        pos += H * W * C + 4
    return np.stack(imgs)


def torch_load(a):
    import torch
    from pixelcnn import PixelCNN, pixels_to_input
    prefix = "polyak." if a[:1] == ["--polyak"] else ""
    a = a[1:] if prefix else a
    m = modelfile.read_model_file(a[0])
    sd = torch.load(a[1], map_location="cpu", weights_only=True)
    film, inp = modelfile.conditioning_of(m.tensors)
    specs = modelfile.param_specs(m.R, m.F, m.M, m.K, film, (m.H, m.W) if inp else None)
    if list(sd) != [n for n, _ in specs]:
        fail("names differ from the SPEC §3 state_dict: %s" % sorted(set(sd) ^ {n for n, _ in specs})[:5])
    for k, v in sd.items():
        if v.dtype != torch.float32 or not v.is_contiguous() or \
                not np.array_equal(v.numpy(), m.tensors[prefix + k]):
            fail("tensor %s differs from the model file's" % k)
    model = PixelCNN(m.R, m.F, m.M, m.K, film, (m.H, m.W) if inp else None)
    model.load_state_dict(sd, strict=True)
    print("loaded %d tensors with torch %s" % (len(sd), torch.__version__))
    if len(a) < 4:
        return
    imgs = read_data(a[2])
    model = model.double().eval()
    with torch.no_grad():
        ref = model.log_prob_all_classes(pixels_to_input(torch.from_numpy(imgs).double()).double()).numpy()
    lines = open(a[3]).read().splitlines()
    got = np.array([[float(v) for v in ln.split("\t")[2:]] for ln in lines[1:]])
    if got.shape != ref.shape:
        fail("scores have shape %s, expected %s" % (got.shape, ref.shape))
    rel = (np.abs(got - ref) / np.abs(ref)).max()
    print("log p(x | c): max relative error %.2e against pcnn-score" % rel)
    if not rel <= 1e-4:
        fail("pcnn-score differs from PyTorch: max relative error %.2e" % rel)


CMDS = {"torch-load": torch_load, "write-data": write_data}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        print("usage: import_check.py torch-load|write-data ...")
        sys.exit(2)
    CMDS[sys.argv[1]](sys.argv[2:])
