#!/usr/bin/python3
# tests/reference/make_golden.py — self-checks the PyTorch reference (pixelcnn.py), then
# writes the golden fixtures tests/fixtures/golden/{small,odd,film}.model that the C code
# is checked against (tests/unit/test_golden.c). `make golden` runs it; docs/REFERENCE.md
# says what the files hold. film.model is a model with both conditioning variants of
# SPEC §3b (film scales hs, class map class_map), both randomised away from 0.
#
#   /usr/bin/python3 tests/reference/make_golden.py [--out DIR] [--checks-only] [--no-checks]
#                                                   [--only NAME]...
#
# Everything is computed in float64 from parameters that were first rounded to float32
# (the values stored in the file), so the fixtures are the exact answer for the stored
# weights up to float64 rounding.
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelfile  # noqa: E402
import pixelcnn  # noqa: E402
from pixelcnn import PixelCNN, discretized_mix_logistic_loglik, pixels_to_input  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name: (R, F, M, K, H, W, N, seed)
CONFIGS = {
    "small": (1, 4, 2, 2, 8, 8, 3, 455),
    "odd": (2, 8, 3, 3, 8, 12, 3, 456),
    "film": (1, 4, 2, 3, 8, 12, 4, 457),
}
# The conditioning variants (SPEC §3b) of a config: name -> (film, input); others base.
VARIANTS = {"film": (True, True)}


def new_model(name_or_sizes, film=False, inp=False):
    """PixelCNN for a CONFIGS name (with its VARIANTS), or for (R, F, M, K, H, W)."""
    if isinstance(name_or_sizes, str):
        film, inp = VARIANTS.get(name_or_sizes, (False, False))
        name_or_sizes = CONFIGS[name_or_sizes]
    R, F, M, K, H, W = name_or_sizes[:6]
    return PixelCNN(R, F, M, K, film, (H, W) if inp else None)

failures = 0


def check(ok, what):
    global failures
    print("%s %s" % ("ok    " if ok else "FAILED", what), flush=True)
    if not ok:
        failures += 1


# ---------------------------------------------------------------- model set-up

def wn_modules(model):
    return [m for m in model.modules() if hasattr(m, "weight_g")]


def randomise(model, gen):
    """Random weights far from the default init so every term matters: g = |v| * U(0.6, 1.4)
    (so g != |v|), biases + N(0, 0.1), hw ~ N(0, 0.5), the variants' hs and class_map
    ~ N(0, 0.3) (drawn in parameter order, so a base model's draws are unchanged); nin_out's log-scale biases spread so
    the likelihood takes every branch of SPEC §4: component 0 broad (log-scale ~0, carries
    the likelihood), component 1 sharp (hits the 'pdf at the centre' branch; its R scale
    straddles the -7 clamp), the others in [-1, 0]. Then every parameter is rounded
    to float32: the stored values are the ones the fixtures are computed from."""
    with torch.no_grad():
        for m in wn_modules(model):
            v = m.weight_v
            norm = v.flatten(1).norm(dim=1).view(m.weight_g.shape)
            m.weight_g.copy_(norm * (0.6 + 0.8 * torch.rand(m.weight_g.shape, generator=gen,
                                                             dtype=v.dtype)))
            m.bias.add_(0.1 * torch.randn(m.bias.shape, generator=gen, dtype=v.dtype))
        for name, p in model.named_parameters():
            if name.endswith(".hw"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            elif name.endswith(".hs") or name == "class_map":
                p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        M = model.M
        b = model.nin_out.lin_a.bias
        for c in range(3):
            s0 = M + 3 * M * c + M                       # log-scales of colour c
            for k in range(M):
                if k == 0:
                    val = 0.0                            # broad: carries the likelihood
                elif k == 1:
                    val = [-7.5, -5.5, -4.0][c]          # sharp; R straddles the clamp
                else:
                    val = -1.0 + 1.0 * torch.rand((), generator=gen, dtype=b.dtype).item()
                b[s0 + k] = val
        for p in model.parameters():
            p.copy_(p.float().double())


def make_images(N, H, W, gen, whole_image=None):
    """(N, H, W, 3) uint8: smooth random images plus noise, with 0 and 255 forced in."""
    imgs = np.zeros((N, H, W, 3), np.uint8)
    for n in range(N):
        base = torch.rand(3, generator=gen).numpy() * 255
        ramp = np.linspace(-60, 60, W)[None, :, None] + np.linspace(-40, 40, H)[:, None, None]
        noise = torch.randn(H, W, 3, generator=gen).numpy() * 30
        imgs[n] = np.clip(np.round(base + ramp * (n + 1) / N + noise), 0, 255)
        imgs[n, 0, 1, 0] = 0
        imgs[n, 1, 2, 1] = 255
        imgs[n, H - 1, W - 1, 2] = 0
        imgs[n, H // 2, 0, :] = 255
    if whole_image is not None:
        imgs[-1] = whole_image
    return imgs


# ---------------------------------------------------------------- self-checks

def check_names():
    for R, F, M, K in [(1, 4, 2, 2), (2, 8, 3, 3), (3, 5, 1, 1)]:
        model = PixelCNN(R, F, M, K)
        got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
        check(got == modelfile.param_specs(R, F, M, K),
              "state_dict names, shapes and order = modelfile.param_specs (R,F,M,K)=%s"
              % ((R, F, M, K),))
    sd = PixelCNN(1, 4, 2, 2).state_dict()
    check(all(k in sd for k in [
        "up_layers.0.u_stream.0.conv_input.conv.weight_v",
        "down_layers.2.ul_stream.0.nin_skip.lin_a.weight_g", "upsize_u_stream.0.deconv.bias",
        "ul_init.1.conv.weight_g", "nin_out.lin_a.bias", "up_layers.0.u_stream.0.hw"]),
        "SPEC §3 example names present")
    check(tuple(sd["upsize_u_stream.0.deconv.weight_g"].shape) == (4, 1, 1, 1)
          and tuple(sd["nin_out.lin_a.weight_g"].shape) == (20, 1)
          and tuple(sd["up_layers.0.u_stream.0.hw"].shape) == (2, 8),
          "weight_g shapes: ConvTranspose2d per input channel, Linear (out, 1); hw (K, 2F)")
    for film, hw in [(True, None), (False, (8, 12)), (True, (4, 8))]:
        model = PixelCNN(2, 3, 1, 3, film, hw)
        got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
        sd = model.state_dict()
        zero = all(float(v.abs().max()) == 0 for k, v in sd.items()
                   if k.endswith(".hs") or k == "class_map")
        check(got == modelfile.param_specs(2, 3, 1, 3, film, hw) and zero
              and modelfile.conditioning_of(sd) == (film, hw is not None),
              "variant film=%s input=%s: names, shapes, order = param_specs, hs/class_map "
              "start at 0, told apart by their names" % (film, hw))


def naive_conv(x, w, b, pad, stride):
    """Direct definition. x (C, H, W); w (O, C, kh, kw); pad (top, left, right)."""
    top, left, right = pad
    C, H, W = x.shape
    O, _, kh, kw = w.shape
    xp = np.zeros((C, H + top, W + left + right))
    xp[:, top:, left:left + W] = x
    Ho = (xp.shape[1] - kh) // stride + 1
    Wo = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((O, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, i, j] = b + np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return out


def naive_deconv(x, w, b, crop_cols):
    """Transposed conv, stride 2, by its scatter definition; w (C, O, kh, kw). The full
    output (2H+1 rows, 2(W-1)+kw+1 columns with output_padding 1) is cropped to rows
    [0, 2H) and columns crop_cols."""
    C, H, W = x.shape
    _, O, kh, kw = w.shape
    full = np.zeros((O, 2 * (H - 1) + kh + 1, 2 * (W - 1) + kw + 1))
    for i in range(H):
        for j in range(W):
            full[:, 2 * i:2 * i + kh, 2 * j:2 * j + kw] += np.tensordot(x[:, i, j], w, axes=(0, 0))
    full += b[:, None, None]
    return full[:, :2 * H, crop_cols[0]:crop_cols[1]]


def check_layers():
    torch.manual_seed(1)
    C, H, W = 3, 4, 6
    x = torch.randn(1, C, H, W, dtype=torch.float64)
    xn = x[0].numpy()
    for cls, k, stride, pad in [
            (pixelcnn.down_shifted_conv2d, (2, 3), 1, (1, 1, 1)),
            (pixelcnn.down_shifted_conv2d, (1, 3), 1, (0, 1, 1)),
            (pixelcnn.down_shifted_conv2d, (2, 3), 2, (1, 1, 1)),
            (pixelcnn.down_right_shifted_conv2d, (2, 2), 1, (1, 1, 0)),
            (pixelcnn.down_right_shifted_conv2d, (2, 1), 1, (1, 0, 0)),
            (pixelcnn.down_right_shifted_conv2d, (2, 2), 2, (1, 1, 0))]:
        layer = cls(C, 5, k, stride=stride).double()
        with torch.no_grad():
            layer.conv.weight_g.mul_(1.7)
            y = layer(x)[0].numpy()
        v = layer.conv.weight_v.detach().numpy()
        g = layer.conv.weight_g.detach().numpy()
        w = g * v / np.sqrt((v ** 2).sum(axis=(1, 2, 3), keepdims=True))
        ref = naive_conv(xn, w, layer.conv.bias.detach().numpy(), pad, stride)
        check(y.shape == ref.shape and np.abs(y - ref).max() < 1e-12,
              "%s k=%s stride %d = direct definition with W = g v/|v|" % (cls.__name__, k, stride))
    for cls, k, crop in [(pixelcnn.down_shifted_deconv2d, (2, 3), (1, 2 * W + 1)),
                         (pixelcnn.down_right_shifted_deconv2d, (2, 2), (0, 2 * W))]:
        layer = cls(C, 5, k).double()
        with torch.no_grad():
            layer.deconv.weight_g.mul_(0.6)
            y = layer(x)[0].numpy()
        v = layer.deconv.weight_v.detach().numpy()   # (in, out, kh, kw)
        g = layer.deconv.weight_g.detach().numpy()   # (in, 1, 1, 1): per input channel
        w = g * v / np.sqrt((v ** 2).sum(axis=(1, 2, 3), keepdims=True))
        ref = naive_deconv(xn, w, layer.deconv.bias.detach().numpy(), crop)
        check(y.shape == (5, 2 * H, 2 * W) and np.abs(y - ref).max() < 1e-12,
              "%s = scatter definition, crop rows [0,2H) cols [%d,%d)" % ((cls.__name__,) + crop))
    layer = pixelcnn.nin(C, 5).double()
    with torch.no_grad():
        layer.lin_a.weight_g.mul_(1.3)
        y = layer(x)[0].numpy()
    v = layer.lin_a.weight_v.detach().numpy()
    w = layer.lin_a.weight_g.detach().numpy() * v / np.sqrt((v ** 2).sum(1, keepdims=True))
    ref = np.einsum("oc,chw->ohw", w, xn) + layer.lin_a.bias.detach().numpy()[:, None, None]
    check(np.abs(y - ref).max() < 1e-12, "nin = per-pixel g v/|v| x + b over channels")
    ds = pixelcnn.down_shift(x)[0].numpy()
    rs = pixelcnn.right_shift(x)[0].numpy()
    check((ds[:, 0] == 0).all() and (ds[:, 1:] == xn[:, :-1]).all()
          and (rs[:, :, 0] == 0).all() and (rs[:, :, 1:] == xn[:, :, :-1]).all(),
          "down_shift / right_shift")
    ce = pixelcnn.concat_elu(x)[0].numpy()
    elu = lambda t: np.where(t > 0, t, np.expm1(np.minimum(t, 0)))  # noqa: E731
    check(np.abs(ce - np.concatenate([elu(xn), elu(-xn)])).max() < 1e-15,
          "concat_elu = elu(concat(x, -x)), +x half first")


def scalar_loglik(xs, lvec, M):
    """One pixel, SPEC §4 written out with scalars (math module). xs: 3 values in [-1, 1];
    lvec: the 10M raw outputs."""
    logits = lvec[:M]
    lmax = max(logits)
    lse = lmax + math.log(sum(math.exp(v - lmax) for v in logits))
    terms = []
    for k in range(M):
        grp = [lvec[M + 3 * M * c:M + 3 * M * (c + 1)] for c in range(3)]
        m = [grp[c][k] for c in range(3)]
        s = [max(grp[c][M + k], -7.0) for c in range(3)]
        al, be, ga = [math.tanh(grp[c][2 * M + k]) for c in range(3)]
        mu = [m[0], m[1] + al * xs[0], m[2] + be * xs[0] + ga * xs[1]]
        tot = logits[k] - lse
        for c in range(3):
            d = xs[c] - mu[c]
            inv = math.exp(-s[c])
            plus, minus = inv * (d + 1 / 255), inv * (d - 1 / 255)
            sig = lambda t: 1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))  # noqa: E731
            softplus = lambda t: max(t, 0) + math.log1p(math.exp(-abs(t)))  # noqa: E731
            if xs[c] < -0.999:
                lp = plus - softplus(plus)
            elif xs[c] > 0.999:
                lp = -softplus(minus)
            elif sig(plus) - sig(minus) > 1e-5:
                lp = math.log(sig(plus) - sig(minus))
            else:
                lp = inv * d - s[c] - 2 * softplus(inv * d) - math.log(127.5)
            tot += lp
        terms.append(tot)
    tmax = max(terms)
    return tmax + math.log(sum(math.exp(t - tmax) for t in terms))


def check_likelihood():
    gen = torch.Generator().manual_seed(7)
    M, n = 3, 400
    l = torch.randn(n, 10 * M, 1, 1, generator=gen, dtype=torch.float64)
    for c in range(3):      # log-scales from broad to below the clamp
        l[:, M + 3 * M * c + M:M + 3 * M * c + 2 * M] = \
            -9 + 10 * torch.rand(n, M, 1, 1, generator=gen, dtype=torch.float64)
    p = torch.randint(0, 256, (n, 1, 1, 3), generator=gen)
    p[:40] = 0
    p[40:80] = 255
    p[80:120, :, :, 0] = 0
    p[120:160, :, :, 2] = 255
    x = pixels_to_input(p.double())
    got = discretized_mix_logistic_loglik(x, l)
    ref = [scalar_loglik(x[i, :, 0, 0].tolist(), l[i, :, 0, 0].tolist(), M) for i in range(n)]
    err = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got.tolist(), ref))
    br = pixelcnn.likelihood_branches(x, l)
    check(err < 1e-12 and min(br.values()) > 0,
          "likelihood = scalar SPEC §4 on %d pixels, every branch taken %s (max rel err %.1e)"
          % (n, br, err))

    # Normalisation: for one pixel, sum_x p(x) over all 256^3 values is 1 (the end bins
    # absorb the tails, so the per-colour sums telescope), up to the rare pdf branch.
    M = 2
    # Scales broad enough that every bin takes the CDF-difference branch (the 'pdf at the
    # centre' fallback is an approximation and would break the telescoping).
    l1 = 0.3 * torch.randn(1, 10 * M, 1, 1, generator=gen, dtype=torch.float64)
    for c in range(3):
        l1[0, M + 3 * M * c + M:M + 3 * M * c + 2 * M] = torch.tensor([-1.0, -0.5])[:, None, None]
    vals = torch.arange(256, dtype=torch.float64)
    gb = torch.stack(torch.meshgrid(vals, vals, indexing="ij"), -1).reshape(-1, 2)
    total = 0.0
    for r in range(256):
        pix = torch.cat([torch.full((gb.shape[0], 1), float(r), dtype=torch.float64), gb], 1)
        xx = pixels_to_input(pix.view(-1, 1, 1, 3))
        total += torch.exp(discretized_mix_logistic_loglik(xx, l1.expand(xx.shape[0], -1, -1, -1))).sum().item()
    check(abs(total - 1) < 1e-9, "sum over all 256^3 pixel values of p(x) = 1 (got 1 %+.2e)"
          % (total - 1))

    # Edge cases: extreme outputs give finite values and finite gradients.
    l2 = torch.randn(6, 10 * M, 2, 2, dtype=torch.float64) * 50
    l2[:, M:] = l2[:, M:] * 0 - 40      # every log-scale far below the clamp
    l2.requires_grad_(True)
    x2 = pixels_to_input(torch.randint(0, 256, (6, 2, 2, 3)).double())
    x2[0] = 1.0
    x2[1] = -1.0
    ll = discretized_mix_logistic_loglik(x2, l2)
    ll.sum().backward()
    check(bool(torch.isfinite(ll).all()) and bool(torch.isfinite(l2.grad).all()),
          "extreme outputs (|logits| ~ 100, log-scales -40, values 0/255): finite value and gradient")


def check_model():
    torch.manual_seed(3)
    R, F, M, K, H, W = 2, 8, 3, 3, 8, 12
    model = PixelCNN(R, F, M, K).double()
    randomise(model, torch.Generator().manual_seed(5))
    model.eval()
    gen = torch.Generator().manual_seed(11)
    p = make_images(2, H, W, gen)
    x = pixels_to_input(torch.from_numpy(p).double())
    y = torch.tensor([0, 2])
    with torch.no_grad():
        out = model(x, y)
        allk = model.log_prob_all_classes(x)
    check(tuple(out.shape) == (2, 10 * M, H, W) and tuple(allk.shape) == (2, K),
          "output shapes (N, 10M, H, W) and (N, K)")
    check(bool(torch.isfinite(allk).all()) and len(set(allk[0].tolist())) == K,
          "log p(x|c) finite and different for every class %s" % [round(v, 3) for v in allk[0].tolist()])

    # Causality: perturbing pixel (i, j) leaves the output at every raster position <= (i, j)
    # bit-identical, and changes some later position; for every (i, j).
    bad = 0
    moved_all = True
    with torch.no_grad():
        for i in range(H):
            for j in range(W):
                x2 = x.clone()
                x2[:, :, i, j] = -x2[:, :, i, j] + 0.3
                out2 = model(x2, y)
                flat = out.permute(0, 2, 3, 1).reshape(2, H * W, -1)
                flat2 = out2.permute(0, 2, 3, 1).reshape(2, H * W, -1)
                t = i * W + j
                if not torch.equal(flat[:, :t + 1], flat2[:, :t + 1]):
                    bad += 1
                if t + 1 < H * W and torch.equal(flat[:, t + 1:], flat2[:, t + 1:]):
                    moved_all = False
    check(bad == 0, "causality: perturbing pixel (i,j) leaves outputs at <= (i,j) bit-identical "
          "(all %d positions, H=%d W=%d)" % (H * W, H, W))
    check(moved_all, "every pixel but the last influences some later output")
    with torch.no_grad():
        x2 = x.clone()
        x2[:, :, 0, 0] += 0.5
        d = (model(x2, y) - out).abs().sum(1)[0]
    check(d[0, 1] > 0 and d[1, 0] > 0, "pixel (0,0) reaches (0,1) and (1,0)")

    # Dropout only in training.
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a = model(x, y)
    model.eval()
    with torch.no_grad():
        b = model(x, y)
    check(not torch.equal(a, b) and torch.equal(b, out), "channel dropout in train mode only")

    # float32 evaluation vs float64: the size of the gap a float32 implementation will have.
    m32 = PixelCNN(R, F, M, K).float()
    m32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    m32.eval()
    with torch.no_grad():
        a32 = m32.log_prob_all_classes(x.float()).double()
    rel = ((a32 - allk).abs() / allk.abs()).max().item()
    check(rel < 1e-5, "float32 PyTorch log p within 1e-5 relative of float64 (%.1e)" % rel)


def check_variants():
    """SPEC §3b: with hs = 0 and class_map = 0 a variant model is the base model exactly;
    randomised, the variants change the output, stay causal, and the likelihood's targets
    are x (not x + class_map)."""
    R, F, M, K, H, W = 1, 4, 2, 3, 8, 8
    torch.manual_seed(8)
    base = PixelCNN(R, F, M, K).double()
    randomise(base, torch.Generator().manual_seed(9))
    var = PixelCNN(R, F, M, K, True, (H, W)).double()
    var.load_state_dict(base.state_dict(), strict=False)   # hs, class_map stay 0
    base.eval()
    var.eval()
    pix = make_images(2, H, W, torch.Generator().manual_seed(3))
    x = pixels_to_input(torch.from_numpy(pix).double())
    y = torch.tensor([2, 0])
    with torch.no_grad():
        out = base(x, y)
        check(torch.equal(var(x, y), out), "film + input with hs = 0, class_map = 0: the base "
              "model's output bit for bit")
        for n, p in var.named_parameters():
            if n.endswith(".hs") or n == "class_map":
                p.copy_(0.3 * torch.randn(p.shape, dtype=p.dtype))
        vout = var(x, y)
        check(not torch.equal(vout, out), "hs and class_map non-zero change the output")
        ll = var.log_prob(x, y)
        check(torch.equal(ll, discretized_mix_logistic_loglik(x, vout)),
              "likelihood targets are x itself (the class map only shifts the input)")
        bad = 0
        flat = vout.permute(0, 2, 3, 1).reshape(2, H * W, -1)
        for i in range(H):
            for j in range(W):
                x2 = x.clone()
                x2[:, :, i, j] = -x2[:, :, i, j] + 0.3
                flat2 = var(x2, y).permute(0, 2, 3, 1).reshape(2, H * W, -1)
                bad += not torch.equal(flat[:, :i * W + j + 1], flat2[:, :i * W + j + 1])
    check(bad == 0, "film + input causal: perturbing pixel (i,j) leaves outputs at <= (i,j) "
          "bit-identical (all %d positions)" % (H * W))


def check_gradcheck():
    from torch.nn.utils import stateless
    for (R, F, M, K, H, W), fast, var in [((1, 1, 1, 2, 4, 4), False, False),
                                          ((1, 2, 2, 2, 4, 8), True, False),
                                          ((1, 1, 1, 2, 4, 4), True, True)]:
        torch.manual_seed(4)
        model = PixelCNN(R, F, M, K, var, (H, W) if var else None).double()
        randomise(model, torch.Generator().manual_seed(6))
        model.eval()
        names = [n for n, _ in model.named_parameters()]
        params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
        gen = torch.Generator().manual_seed(9)
        x = pixels_to_input(torch.from_numpy(make_images(2, H, W, gen)).double())
        y = torch.tensor([1, 0])

        def loss(*ps):
            out = stateless.functional_call(model, dict(zip(names, ps)), (x, y))
            return -discretized_mix_logistic_loglik(x, out).mean()

        t = time.time()
        # eps 1e-4: with eps 1e-6 the float64 rounding noise of a loss of ~260 nats
        # (~1e-12) divided by 2 eps reaches the 1e-6 tolerance; the truncation error
        # eps^2 f'''/6 stays far below it.
        ok = torch.autograd.gradcheck(loss, params, eps=1e-4, atol=1e-6, rtol=1e-5,
                                      fast_mode=fast, raise_exception=False)
        check(ok, "torch.autograd.gradcheck of the loss w.r.t. all %d parameters (%d values), "
              "(R,F,M,K,H,W)=%s%s, %s mode (%.0f s)"
              % (len(params), sum(p.numel() for p in params), (R, F, M, K, H, W),
                 " film + input" if var else "", "fast" if fast else "full", time.time() - t))


# ---------------------------------------------------------------- fixtures

# The hybrid objective of SPEC §6b in every fixture: lambda, tau, and the first N - 1
# images carrying the CE term (the last one the likelihood alone).
HYBRID_LAMBDA, HYBRID_TAU = 0.7, 3.0


def hybrid_loss(model, x, labels, lam, tau, n_ce):
    """SPEC §6b written from its formula, autograd for the gradient:
    L = (1/N) sum_n [-l(n, y_n)] + lam (1/N) sum_{n < n_ce} CE_n,
    CE_n = tau (logsumexp_c(l(n, c) / tau) - l(n, y_n) / tau). Returns (L, mean CE_n)."""
    N = x.shape[0]
    ll = model.log_prob_all_classes(x)                    # (N, K), one pass per class
    ly = ll[torch.arange(N), labels]
    ce = tau * (torch.logsumexp(ll[:n_ce] / tau, dim=1) - ly[:n_ce] / tau)
    return (-ly.sum() + lam * ce.sum()) / N, ce.mean()


def make_fixture(name, out_dir):
    R, F, M, K, H, W, N, seed = CONFIGS[name]
    torch.manual_seed(seed)
    model = new_model(name).double()
    randomise(model, torch.Generator().manual_seed(seed + 1000))
    model.eval()
    gen = torch.Generator().manual_seed(seed + 2000)
    whole = 255 if name == "small" else None        # small: the last image is all 255
    pix = make_images(N, H, W, gen, whole)
    labels = torch.arange(N) % K
    x = pixels_to_input(torch.from_numpy(pix).double())

    model.zero_grad()
    logits = model(x, labels)
    ll_true = discretized_mix_logistic_loglik(x, logits)
    loss = -ll_true.mean()
    loss.backward()
    with torch.no_grad():
        loglik = model.log_prob_all_classes(x)
    check(torch.allclose(loglik[torch.arange(N), labels], ll_true, rtol=1e-14, atol=0),
          "%s: log_prob_all_classes agrees with the true-label pass" % name)
    br = pixelcnn.likelihood_branches(x, logits)
    check(min(br.values()) > 0, "%s: every likelihood branch taken %s" % (name, br))
    bpd = (-loglik / (H * W * 3 * math.log(2))).tolist()
    check(all(1 < b < 20 for row in bpd for b in row),
          "%s: bits/dim in a sane range %s" % (name, [[round(b, 2) for b in r] for r in bpd]))

    # What a float32 implementation reaches: PyTorch in float32 on the same stored weights.
    m32 = new_model(name).float()
    m32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    m32.eval()
    l32 = -discretized_mix_logistic_loglik(x.float(), m32(x.float(), labels)).mean()
    l32.backward()
    with torch.no_grad():
        ll32 = m32.log_prob_all_classes(x.float()).double()
    ll_rel = ((ll32 - loglik).abs() / loglik.abs()).max().item()
    g_rel = max(((p32.grad.double() - p.grad).norm() / p.grad.norm().clamp(min=1e-30)).item()
                for p32, p in zip(m32.parameters(), model.parameters()) if p.grad.norm() > 0)
    # Limits: 5x under the C side's tolerances (1e-4 for log p, 1e-3 for gradients), so a
    # float32 implementation can meet them. The gap comes from the likelihood's gradient
    # (sigma'(plus) - sigma'(minus) cancels in float32), hence the broad (log-scale 0)
    # main component in randomise(): sharper ones make the float32 gap larger.
    check(ll_rel < 2e-5 and g_rel < 2e-4,
          "%s: float32 PyTorch: log p max rel err %.1e, gradients max per-tensor "
          "|g32 - g64| / |g64| = %.1e" % (name, ll_rel, g_rel))

    m = modelfile.ModelFile(R, F, M, K, H, W, 3, ["Class%d" % k for k in range(K)],
                            seed=seed, meta={"made_by": "tests/reference/make_golden.py",
                                             "torch": torch.__version__})
    for pname, p in model.state_dict().items():
        m.tensors[pname] = p.float().numpy()
    m.tensors["golden.images"] = pix.astype(np.float32)
    m.tensors["golden.labels"] = labels.float().numpy()
    m.tensors["golden.logits"] = logits.detach().permute(0, 2, 3, 1).float().numpy()   # NHWC
    m.tensors["golden.loglik"] = loglik.float().numpy()
    m.tensors["golden.loss"] = loss.detach().float().numpy().reshape(1)
    for pname, p in model.named_parameters():
        m.tensors["golden.grad." + pname] = p.grad.float().numpy()

    model.zero_grad()
    hl, hce = hybrid_loss(model, x, labels, HYBRID_LAMBDA, HYBRID_TAU, N - 1)
    hl.backward()
    check(abs(hce.item()) > 1e-3 and math.isfinite(hl.item()),
          "%s: hybrid loss %.4f, mean CE %.4f (lambda %g, tau %g, %d of %d images)"
          % (name, hl.item(), hce.item(), HYBRID_LAMBDA, HYBRID_TAU, N - 1, N))
    m.tensors["golden.hybrid.setting"] = np.array([HYBRID_LAMBDA, HYBRID_TAU, N - 1], np.float32)
    m.tensors["golden.hybrid.loss"] = hl.detach().float().numpy().reshape(1)
    m.tensors["golden.hybrid.ce"] = hce.detach().float().numpy().reshape(1)
    for pname, p in model.named_parameters():
        m.tensors["golden.hybrid.grad." + pname] = p.grad.float().numpy()
    path = os.path.join(out_dir, name + ".model")
    modelfile.write_model_file(path, m)

    back = modelfile.read_model_file(path)
    same = all(np.array_equal(back.tensors[k], v) for k, v in m.tensors.items())
    # The stored weights are exactly the ones used (rounded to float32 before computing).
    exact = all(np.array_equal(back.tensors[k], p.detach().numpy().astype(np.float32))
                and np.array_equal(back.tensors[k].astype(np.float64), p.detach().numpy())
                for k, p in model.named_parameters())
    size = os.path.getsize(path)
    check(same and exact and size < 1 << 20 and back.K == K and back.H == H and back.W == W,
          "%s: wrote %s (%d bytes, %d tensors), reads back identical; loss %.4f"
          % (name, os.path.relpath(path, ROOT), size, len(m.tensors), loss.item()))


def main():
    ap = argparse.ArgumentParser(description="Self-check the PyTorch reference and write "
                                 "the golden fixtures.")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "golden"))
    ap.add_argument("--checks-only", action="store_true", help="run the self-checks only")
    ap.add_argument("--no-checks", action="store_true", help="write the fixtures only")
    ap.add_argument("--only", action="append", choices=sorted(CONFIGS), metavar="NAME",
                    help="write only this fixture (repeatable; default all: %s)"
                    % ", ".join(CONFIGS))
    a = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    if not a.no_checks:
        check_names()
        check_layers()
        check_likelihood()
        check_model()
        check_variants()
        check_gradcheck()
    if not a.checks_only:
        os.makedirs(a.out, exist_ok=True)
        for name in a.only or CONFIGS:
            make_fixture(name, a.out)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
