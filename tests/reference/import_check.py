#!/usr/bin/python3
# tests/reference/import_check.py — helpers for tests/bats/import.bats (needs PyTorch).
#
#   import_check.py make-all DIR                   every .pth and data file the tests use
#   import_check.py make-pth OUT.pth R F M K [--no-hw] [--wrap] [--plain-weight]
#                            [--extra-key] [--drop-key] [--bad-shape]
#                            [--film] [--input=HxW] [--drop-hs]   (SPEC §3b variants)
#   import_check.py same-pth A.pth B.pth           tensors and names identical (exit 1 if not)
#   import_check.py same-loglik A.pth B.pth H W    both state_dicts give the same log p (1e-5)
#   import_check.py hw-zero A.pth K                every .hw is a K x 2F zero tensor
#   import_check.py add-polyak IN.model OUT.model  copies params as polyak.<name> * 0.5
#   import_check.py check-polyak IN.model A.pth    A.pth holds the polyak.<name> values
#   import_check.py write-data OUT.bin H W K N     a pcnn data file of N random images
#   import_check.py compare-scores A.pth DATA.bin SCORES.tsv
#                   pcnn-score's log p(x|c) = PyTorch's (float64 on the float32 weights), 1e-4
import struct
import sys
import os
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelfile  # noqa: E402

if sys.argv[1:2] != ["add-polyak"]:       # the only command that needs no torch
    import torch
    from pixelcnn import PixelCNN, pixels_to_input


def fail(msg):
    print("import_check: " + msg)
    sys.exit(1)


def model_from(sd, dtype=None):
    dtype = dtype or torch.float64
    F = sd["u_init.conv.weight_v"].shape[0]
    M = sd["nin_out.lin_a.weight_v"].shape[0] // 10
    R = len({k.split(".")[3] for k in sd if k.startswith("up_layers.0.u_stream.")})
    K = sd["up_layers.0.u_stream.0.hw"].shape[0]
    film, inp = modelfile.conditioning_of(sd)
    m = PixelCNN(R, F, M, K, film, tuple(sd["class_map"].shape[2:]) if inp else None).to(dtype)
    m.load_state_dict({k: v.to(dtype) for k, v in sd.items()})
    return m.eval()


def make_pth(a):
    out, R, F, M, K = a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4])
    opts = set(a[5:])
    inp = [tuple(int(v) for v in o[len("--input="):].split("x"))
           for o in opts if o.startswith("--input=")]
    torch.manual_seed(12)
    m = PixelCNN(R, F, M, K, "--film" in opts, inp[0] if inp else None)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith((".hw", ".hs")) or n == "class_map":
                p.normal_(0, 0.3)
            if n.endswith("weight_g"):
                p.mul_(1.2)
    if "--plain-weight" in opts:
        for mod in m.modules():
            if hasattr(mod, "weight_g"):
                torch.nn.utils.remove_weight_norm(mod)
    sd = m.state_dict()
    if "--no-hw" in opts:
        sd = {k: v for k, v in sd.items() if not k.endswith(".hw")}
    if "--extra-key" in opts:
        sd["up_layers.0.u_stream.0.film.weight"] = torch.zeros(3)
    if "--drop-key" in opts:
        del sd["nin_out.lin_a.bias"]
    if "--drop-hs" in opts:
        del sd["down_layers.1.ul_stream.0.hs"]
    if "--bad-shape" in opts:
        sd["nin_out.lin_a.bias"] = torch.zeros(7)
    if "--wrap" in opts:
        sd = {"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3}
    torch.save(sd, out)


def same_pth(a):
    x, y = torch.load(a[0]), torch.load(a[1])
    if list(x) != list(y):
        fail("names differ: %s" % sorted(set(x) ^ set(y))[:5])
    for k in x:
        if x[k].dtype != y[k].dtype or not torch.equal(x[k], y[k]):
            fail("tensor %s differs" % k)


def same_loglik(a):
    H, W = int(a[2]), int(a[3])
    torch.manual_seed(1)
    x = pixels_to_input(torch.randint(0, 256, (3, H, W, 3)).double()).double()
    ref = model_from(torch.load(a[0])).log_prob_all_classes(x)
    got = model_from(torch.load(a[1])).log_prob_all_classes(x)
    rel = ((got - ref).abs() / ref.abs()).max().item()
    if not rel < 1e-5:
        fail("log p differs, max relative error %.2e" % rel)


def hw_zero(a):
    sd, K = torch.load(a[0]), int(a[1])
    hws = [v for k, v in sd.items() if k.endswith(".hw")]
    if not hws or any(v.shape[0] != K or v.abs().max() != 0 for v in hws):
        fail("class terms are not all zero K x 2F")


def add_polyak(a):
    m = modelfile.read_model_file(a[0])
    for k, v in list(m.tensors.items()):
        m.tensors["polyak." + k] = v * np.float32(0.5)
    modelfile.write_model_file(a[1], m)


def check_polyak(a):
    m, sd = modelfile.read_model_file(a[0]), torch.load(a[1])
    for k, v in sd.items():
        if not np.array_equal(v.numpy(), m.tensors["polyak." + k]):
            fail("%s is not the Polyak copy" % k)


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


def compare_scores(a):
    model = model_from(torch.load(a[0]))
    imgs = read_data(a[1])
    x = pixels_to_input(torch.from_numpy(imgs).double()).double()
    with torch.no_grad():
        ref = model.log_prob_all_classes(x).numpy()
    lines = open(a[2]).read().splitlines()
    if len(lines) != len(imgs) + 1:
        fail("%d score lines for %d images" % (len(lines) - 1, len(imgs)))
    got = np.array([[float(v) for v in ln.split("\t")[2:]] for ln in lines[1:]])
    if got.shape != ref.shape:
        fail("scores have shape %s, expected %s" % (got.shape, ref.shape))
    rel = (np.abs(got - ref) / np.abs(ref)).max()
    print("max relative error %.2e" % rel)
    if not rel <= 1e-4:
        fail("pcnn-score differs from PyTorch: max relative error %.2e" % rel)


def make_all(a):
    d = a[0]
    for name, args in [("a.pth", "1 4 2 3"), ("r2.pth", "2 3 1 2"), ("w.pth", "2 3 1 2 --wrap"),
                       ("n.pth", "1 4 2 1 --no-hw"), ("b.pth", "1 4 2 2"),
                       ("p.pth", "1 4 2 2 --plain-weight"), ("x.pth", "1 4 2 2 --extra-key"),
                       ("d.pth", "1 4 2 2 --drop-key"), ("s.pth", "1 4 2 2 --bad-shape"),
                       ("sc.pth", "2 6 3 3"),
                       ("fi.pth", "1 4 2 3 --film --input=8x8"), ("fo.pth", "1 4 2 2 --film"),
                       ("ci.pth", "1 4 2 2 --input=8x12"), ("dh.pth", "1 4 2 2 --film --drop-hs"),
                       ("fsc.pth", "2 6 3 3 --film --input=8x12")]:
        make_pth([os.path.join(d, name)] + args.split())
    write_data([os.path.join(d, "d.bin"), "8", "12", "3", "5"])


CMDS = {"make-all": make_all, "make-pth": make_pth, "same-pth": same_pth, "same-loglik": same_loglik,
        "hw-zero": hw_zero, "add-polyak": add_polyak, "check-polyak": check_polyak,
        "write-data": write_data, "compare-scores": compare_scores}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        print(__doc__ if __doc__ else "usage: import_check.py CMD ...")
        sys.exit(2)
    CMDS[sys.argv[1]](sys.argv[2:])
