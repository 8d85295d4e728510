# tests/reference/pixelcnn.py — an independent PyTorch implementation of SPEC §3–§4:
# the conditional PixelCNN++ (class term `hw` per gated block; the conditioning variants
# of SPEC §3b: `film`, a class scale `hs` per block, and `input`, a learned class image
# `class_map` added to the input) and the discretized mixture-of-logistics likelihood. It is the reference the C code is checked against
# (make_golden.py) and the PyTorch side of `make bench` (bench_torch.py).
#
# Module names follow the pclucas14/pixel-cnn-pp tree, so state_dict keys are those of
# SPEC §3 (and of modelfile.param_specs). Layout inside is NCHW, as in that code; the
# raw output is returned NCHW (N, 10M, H, W).
#
#   model = PixelCNN(R=1, F=40, M=5, K=4)                  # base
#   model = PixelCNN(1, 40, 5, 4, film=True, input_hw=(32, 32))   # both variants
#   x = pixels_to_input(p)                   # p: (N, H, W, 3) uint8/float 0..255 -> (N, 3, H, W)
#   ll = model.log_prob(x, y)                # (N,) log p(x | y) in nats
#   all_ll = model.log_prob_all_classes(x)   # (N, K)
#
# Runs on torch 1.13 (Debian python3-torch), CPU.
import math

import torch
import torch.nn as nn
import torch.nn.functional as Fn
from torch.nn.utils import weight_norm


def pixels_to_input(p):
    """(N, H, W, 3) pixel values 0..255 -> network input x = (p/255 - 0.5)*2, (N, 3, H, W)."""
    p = torch.as_tensor(p)
    x = (p.to(torch.get_default_dtype()) / 255.0 - 0.5) * 2.0
    return x.permute(0, 3, 1, 2).contiguous()


def concat_elu(x):
    """elu(concat(x, -x)) over channels (dim 1 of NCHW): C -> 2C, the +x half first."""
    return Fn.elu(torch.cat([x, -x], dim=1))


def down_shift(x):
    """Drop the last row, insert a zero row on top (NCHW)."""
    return Fn.pad(x[:, :, :-1, :], (0, 0, 1, 0))


def right_shift(x):
    """Drop the last column, insert a zero column on the left (NCHW)."""
    return Fn.pad(x[:, :, :, :-1], (1, 0, 0, 0))


class down_shifted_conv2d(nn.Module):
    """Zero-pad top kh-1, left and right (kw-1)/2, then a valid (strided) conv."""

    def __init__(self, cin, cout, k=(2, 3), stride=1):
        super().__init__()
        self.k = k
        self.conv = weight_norm(nn.Conv2d(cin, cout, k, stride), dim=0)

    def forward(self, x):
        kh, kw = self.k
        return self.conv(Fn.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)))


class down_right_shifted_conv2d(nn.Module):
    """Zero-pad top kh-1, left kw-1, then a valid (strided) conv."""

    def __init__(self, cin, cout, k=(2, 2), stride=1):
        super().__init__()
        self.k = k
        self.conv = weight_norm(nn.Conv2d(cin, cout, k, stride), dim=0)

    def forward(self, x):
        kh, kw = self.k
        return self.conv(Fn.pad(x, (kw - 1, 0, kh - 1, 0)))


class down_shifted_deconv2d(nn.Module):
    """Transposed conv k (2,3), stride 2, output_padding 1: (H, W) -> (2H+1, 2W+2);
    keep rows [0, 2H), columns [1, 2W+1). weight_g is per *input* channel (dim 0 of
    ConvTranspose2d's (in, out, kh, kw) weight), as PyTorch's weight_norm(dim=0) does."""

    def __init__(self, cin, cout, k=(2, 3)):
        super().__init__()
        self.deconv = weight_norm(nn.ConvTranspose2d(cin, cout, k, 2, output_padding=1), dim=0)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        return self.deconv(x)[:, :, :2 * H, 1:2 * W + 1]


class down_right_shifted_deconv2d(nn.Module):
    """Transposed conv k (2,2), stride 2, output_padding 1: (H, W) -> (2H+1, 2W+1);
    keep rows [0, 2H), columns [0, 2W)."""

    def __init__(self, cin, cout, k=(2, 2)):
        super().__init__()
        self.deconv = weight_norm(nn.ConvTranspose2d(cin, cout, k, 2, output_padding=1), dim=0)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        return self.deconv(x)[:, :, :2 * H, :2 * W]


class nin(nn.Module):
    """1x1 layer as a weight-normalised Linear applied per pixel (over channels)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.lin_a = weight_norm(nn.Linear(cin, cout), dim=0)

    def forward(self, x):
        return self.lin_a(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class gated_resnet(nn.Module):
    """SPEC §3 gated block with class term:
         c1 = conv_input(concat_elu(x)) [+ nin_skip(concat_elu(a))]
         c2 = conv_out(dropout(concat_elu(c1))) + hw[y]
              film (SPEC §3b): conv_out(...) * (1 + hs[y]) + hw[y]
         out = x + c2[:F] * sigmoid(c2[F:])"""

    def __init__(self, F, conv, K, skip=0, film=False):
        super().__init__()
        self.hw = nn.Parameter(torch.randn(K, 2 * F) * 0.05)
        if film:        # registered after hw: state_dict order hw, hs
            self.hs = nn.Parameter(torch.zeros(K, 2 * F))
        self.film = film
        self.conv_input = conv(2 * F, F)
        if skip:
            self.nin_skip = nin(2 * skip * F, F)
        self.dropout = nn.Dropout2d(0.5)
        self.conv_out = conv(2 * F, 2 * F)

    def forward(self, x, y, a=None):
        c1 = self.conv_input(concat_elu(x))
        if a is not None:
            c1 = c1 + self.nin_skip(concat_elu(a))
        c2 = self.conv_out(self.dropout(concat_elu(c1)))
        if self.film:
            c2 = c2 * (1 + self.hs[y][:, :, None, None]) + self.hw[y][:, :, None, None]
        else:
            c2 = c2 + self.hw[y][:, :, None, None]
        h, g = torch.chunk(c2, 2, dim=1)
        return x + h * torch.sigmoid(g)


class PixelCNNLayer_up(nn.Module):
    def __init__(self, R, F, K, film=False):
        super().__init__()
        self.u_stream = nn.ModuleList(
            [gated_resnet(F, down_shifted_conv2d, K, 0, film) for _ in range(R)])
        self.ul_stream = nn.ModuleList(
            [gated_resnet(F, down_right_shifted_conv2d, K, 1, film) for _ in range(R)])

    def forward(self, u, ul, y):
        us, uls = [], []
        for bu, bul in zip(self.u_stream, self.ul_stream):
            u = bu(u, y)
            ul = bul(ul, y, a=u)
            us.append(u)
            uls.append(ul)
        return us, uls


class PixelCNNLayer_down(nn.Module):
    def __init__(self, R, F, K, film=False):
        super().__init__()
        self.u_stream = nn.ModuleList(
            [gated_resnet(F, down_shifted_conv2d, K, 1, film) for _ in range(R)])
        self.ul_stream = nn.ModuleList(
            [gated_resnet(F, down_right_shifted_conv2d, K, 2, film) for _ in range(R)])

    def forward(self, u, ul, stack_u, stack_ul, y):
        for bu, bul in zip(self.u_stream, self.ul_stream):
            u = bu(u, y, a=stack_u.pop())
            ul = bul(ul, y, a=torch.cat([u, stack_ul.pop()], dim=1))
        return u, ul


class PixelCNN(nn.Module):
    def __init__(self, R=1, F=40, M=5, K=4, film=False, input_hw=None):
        """film: a class scale hs per gated block; input_hw = (H, W): a learned class image
        class_map (K, 3, H, W) added to the input (SPEC §3b); both start at 0."""
        super().__init__()
        self.R, self.F, self.M, self.K = R, F, M, K
        self.film, self.input_hw = film, tuple(input_hw) if input_hw else None
        # Registration order fixes the state_dict order (= modelfile.param_specs); a
        # module's own parameters (class_map) come before its submodules'.
        if self.input_hw:
            self.class_map = nn.Parameter(torch.zeros(K, 3, *self.input_hw))
        self.down_layers = nn.ModuleList(
            [PixelCNNLayer_down(n, F, K, film) for n in (R, R + 1, R + 1)])
        self.up_layers = nn.ModuleList([PixelCNNLayer_up(R, F, K, film) for _ in range(3)])
        self.downsize_u_stream = nn.ModuleList(
            [down_shifted_conv2d(F, F, (2, 3), stride=2) for _ in range(2)])
        self.downsize_ul_stream = nn.ModuleList(
            [down_right_shifted_conv2d(F, F, (2, 2), stride=2) for _ in range(2)])
        self.upsize_u_stream = nn.ModuleList([down_shifted_deconv2d(F, F) for _ in range(2)])
        self.upsize_ul_stream = nn.ModuleList(
            [down_right_shifted_deconv2d(F, F) for _ in range(2)])
        self.u_init = down_shifted_conv2d(4, F, (2, 3))
        self.ul_init = nn.ModuleList([down_shifted_conv2d(4, F, (1, 3)),
                                      down_right_shifted_conv2d(4, F, (2, 1))])
        self.nin_out = nin(F, 10 * M)

    def forward(self, x, y):
        """x: (N, 3, H, W) in [-1, 1]; y: (N,) int64 labels -> (N, 10M, H, W) raw output.
        With input_hw the network sees x + class_map[y]; the likelihood's targets stay x."""
        N, _, H, W = x.shape
        xc = x + self.class_map[y] if self.input_hw else x
        xin = torch.cat([xc, x.new_ones(N, 1, H, W)], dim=1)
        u = down_shift(self.u_init(xin))
        ul = down_shift(self.ul_init[0](xin)) + right_shift(self.ul_init[1](xin))
        stack_u, stack_ul = [u], [ul]
        for i in range(3):
            us, uls = self.up_layers[i](stack_u[-1], stack_ul[-1], y)
            stack_u += us
            stack_ul += uls
            if i < 2:
                stack_u.append(self.downsize_u_stream[i](stack_u[-1]))
                stack_ul.append(self.downsize_ul_stream[i](stack_ul[-1]))
        u, ul = stack_u.pop(), stack_ul.pop()
        for i in range(3):
            u, ul = self.down_layers[i](u, ul, stack_u, stack_ul, y)
            if i < 2:
                u = self.upsize_u_stream[i](u)
                ul = self.upsize_ul_stream[i](ul)
        assert not stack_u and not stack_ul
        return self.nin_out(Fn.elu(ul))

    def log_prob(self, x, y):
        """(N,) log p(x | y) in nats."""
        return discretized_mix_logistic_loglik(x, self.forward(x, y))

    def log_prob_all_classes(self, x):
        """(N, K): log p(x | c) for every class c, one forward pass per class."""
        N = x.shape[0]
        cols = [self.log_prob(x, torch.full((N,), c, dtype=torch.long, device=x.device))
                for c in range(self.K)]
        return torch.stack(cols, dim=1)


def discretized_mix_logistic_loglik(x, l, per_pixel=False):
    """SPEC §4. x: (N, 3, H, W) in [-1, 1]; l: (N, 10M, H, W) raw network output.
    Returns (N,) log p(x) in nats (or (N, H, W) per pixel). Branches are chosen with
    torch.where; the log of the CDF difference is taken of a clamped value so the branch
    not taken never yields log(0) (its gradient would be 0 * inf = NaN)."""
    x = x.permute(0, 2, 3, 1)                              # (N, H, W, 3)
    l = l.permute(0, 2, 3, 1)                              # (N, H, W, 10M)
    M = l.shape[-1] // 10
    logits = l[..., :M]                                    # (N, H, W, M)
    p = l[..., M:].reshape(l.shape[:-1] + (3, 3 * M))      # colour c: [means, log_s, coeff]
    means = p[..., :M]                                     # (N, H, W, 3, M)
    log_s = torch.clamp(p[..., M:2 * M], min=-7.0)
    coef = torch.tanh(p[..., 2 * M:])                      # alpha, beta, gamma = c = R, G, B
    xr, xg, xb = x[..., 0:1], x[..., 1:2], x[..., 2:3]     # (N, H, W, 1): broadcast over M
    mu = torch.stack([means[..., 0, :],
                      means[..., 1, :] + coef[..., 0, :] * xr,
                      means[..., 2, :] + coef[..., 1, :] * xr + coef[..., 2, :] * xg], dim=-2)
    xv = x.unsqueeze(-1)                                   # (N, H, W, 3, 1)
    d = xv - mu
    inv = torch.exp(-log_s)
    plus = inv * (d + 1.0 / 255.0)
    minus = inv * (d - 1.0 / 255.0)
    log_cdf_plus = Fn.logsigmoid(plus)                     # log sigma(plus)
    log_one_minus_cdf_minus = Fn.logsigmoid(-minus)        # log(1 - sigma(minus))
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv * d
    # log pdf at the centre, times the bin width 2/255: mid - s - 2 softplus(mid) - log 127.5;
    # softplus(mid) = -logsigmoid(-mid) (exact, no threshold approximation).
    log_pdf_mid = mid - log_s + 2.0 * Fn.logsigmoid(-mid) - math.log(127.5)
    inner = torch.where(delta > 1e-5, torch.log(torch.clamp(delta, min=1e-12)), log_pdf_mid)
    inner = torch.where(xv > 0.999, log_one_minus_cdf_minus, inner)
    lp = torch.where(xv < -0.999, log_cdf_plus, inner)     # (N, H, W, 3, M)
    lp = lp.sum(dim=-2) + torch.log_softmax(logits, dim=-1)
    lpix = torch.logsumexp(lp, dim=-1)                     # (N, H, W)
    return lpix if per_pixel else lpix.sum(dim=(1, 2))


def likelihood_branches(x, l):
    """Counts of sub-pixel x component terms taking each SPEC §4 branch, and how many
    log-scales the -7 clamp caught: used to check that fixtures exercise every branch."""
    with torch.no_grad():
        x = x.permute(0, 2, 3, 1)
        l = l.permute(0, 2, 3, 1)
        M = l.shape[-1] // 10
        p = l[..., M:].reshape(l.shape[:-1] + (3, 3 * M))
        raw_s = p[..., M:2 * M]
        log_s = torch.clamp(raw_s, min=-7.0)
        coef = torch.tanh(p[..., 2 * M:])
        means = p[..., :M]
        xr, xg = x[..., 0:1], x[..., 1:2]
        mu = torch.stack([means[..., 0, :], means[..., 1, :] + coef[..., 0, :] * xr,
                          means[..., 2, :] + coef[..., 1, :] * xr + coef[..., 2, :] * xg], -2)
        xv = x.unsqueeze(-1).expand_as(mu)
        d = xv - mu
        inv = torch.exp(-log_s)
        delta = torch.sigmoid(inv * (d + 1 / 255)) - torch.sigmoid(inv * (d - 1 / 255))
        lo, hi = xv < -0.999, xv > 0.999
        mid = ~lo & ~hi
        return {"value0": int(lo.sum()), "value255": int(hi.sum()),
                "cdf_delta": int((mid & (delta > 1e-5)).sum()),
                "pdf_mid": int((mid & ~(delta > 1e-5)).sum()),
                "clamped_log_scale": int((raw_s < -7.0).sum())}
