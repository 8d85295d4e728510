# tests/reference/modelfile.py — the pcnn model file in Python (stdlib + numpy, no torch),
# and the table of parameter names and shapes of SPEC §3.
#
# tools/pcnn-import and tools/pcnn-export carry a verbatim copy of the block between the
# BEGIN/END markers (so they work alone once installed); tests/bats/import.bats checks
# that the copies have not drifted.
#
#   m = ModelFile(R=1, F=4, M=2, K=2, H=8, W=8, class_names=["Class0", "Class1"])
#   m.tensors["nin_out.lin_a.bias"] = np.zeros(20, np.float32)
#   write_model_file("m.model", m)            # atomic: temporary file, fsync, rename
#   m = read_model_file("m.model")            # raises ModelFileError with the reason
#
# ---- BEGIN pcnn modelfile ----
# Byte layout (little-endian), as libcommon/io/modelfile.h and docs/FORMATS.md:
#   8 magic "PCNNMODL"; u32 version = 1; u32 R, F, M, K, H, W, C;
#   K x { u16 len (1..255), class name }; u64 step; u64 epoch; u64 seed; f64 lr;
#   u32 n_meta, n_meta x { u16 klen, key, u16 vlen, value };
#   u32 n_tensors, n_tensors x { u16 name_len (1..255), name, u32 ndim (1..4),
#       ndim x u32 dims (>= 1), prod(dims) x f32 (row-major, PyTorch layout) };
#   u32 CRC-32 (zlib) of every byte before it.
import os as _os
import struct as _struct
import tempfile as _tempfile
import zlib as _zlib
from collections import OrderedDict as _OrderedDict

import numpy as _np

MODEL_MAGIC = b"PCNNMODL"
MODEL_VERSION = 1
MODEL_MAX_TENSORS = 100000
MODEL_MAX_NAME = 255


class ModelFileError(Exception):
    pass


class ModelFile:
    def __init__(self, R, F, M, K, H, W, C=3, class_names=None, step=0, epoch=0, seed=0,
                 lr=2e-4, meta=None, tensors=None):
        self.R, self.F, self.M, self.K, self.H, self.W, self.C = R, F, M, K, H, W, C
        self.class_names = list(class_names) if class_names is not None else \
            ["Class%d" % k for k in range(K)]
        self.step, self.epoch, self.seed, self.lr = step, epoch, seed, lr
        self.meta = _OrderedDict(meta or {})
        self.tensors = _OrderedDict(tensors or {})   # name -> float32 ndarray


def param_specs(R, F, M, K, film=False, input_hw=None):
    """[(name, shape)] of every parameter of SPEC §3, in PyTorch state_dict order
    (module registration order of the pclucas14 tree; a gated block's own `hw` first,
    each weight-normalised layer as bias, weight_g, weight_v). The variants of SPEC §3b:
    film adds `<block>.hs` (K, 2F) after each `hw`; input_hw = (H, W) adds `class_map`
    (K, 3, H, W), the model's own parameter, first."""
    out = []
    if input_hw:
        out.append(("class_map", (K, 3) + tuple(input_hw)))

    def wn(prefix, v_shape, nout):
        # Conv2d / Linear: g per output (axis 0); ConvTranspose2d: v is (in, out, ..),
        # g per input channel, which is again axis 0 of v.
        out.append((prefix + ".bias", (nout,)))
        out.append((prefix + ".weight_g", (v_shape[0],) + (1,) * (len(v_shape) - 1)))
        out.append((prefix + ".weight_v", tuple(v_shape)))

    def block(prefix, k, skip):
        out.append((prefix + ".hw", (K, 2 * F)))
        if film:
            out.append((prefix + ".hs", (K, 2 * F)))
        wn(prefix + ".conv_input.conv", (F, 2 * F) + k, F)
        if skip:
            wn(prefix + ".nin_skip.lin_a", (F, 2 * skip * F), F)
        wn(prefix + ".conv_out.conv", (2 * F, 2 * F) + k, 2 * F)

    ku, kul = (2, 3), (2, 2)
    for i, n in enumerate([R, R + 1, R + 1]):
        for j in range(n):
            block("down_layers.%d.u_stream.%d" % (i, j), ku, 1)
        for j in range(n):
            block("down_layers.%d.ul_stream.%d" % (i, j), kul, 2)
    for i in range(3):
        for j in range(R):
            block("up_layers.%d.u_stream.%d" % (i, j), ku, 0)
        for j in range(R):
            block("up_layers.%d.ul_stream.%d" % (i, j), kul, 1)
    for i in range(2):
        wn("downsize_u_stream.%d.conv" % i, (F, F) + ku, F)
    for i in range(2):
        wn("downsize_ul_stream.%d.conv" % i, (F, F) + kul, F)
    for i in range(2):
        wn("upsize_u_stream.%d.deconv" % i, (F, F) + ku, F)
    for i in range(2):
        wn("upsize_ul_stream.%d.deconv" % i, (F, F) + kul, F)
    wn("u_init.conv", (F, 4, 2, 3), F)
    wn("ul_init.0.conv", (F, 4, 1, 3), F)
    wn("ul_init.1.conv", (F, 4, 2, 1), F)
    wn("nin_out.lin_a", (10 * M, F), 10 * M)
    return out


def conditioning_of(names):
    """(film, input) told by tensor names as pcnn does (libcommon/model/model.c): film when a
    `<block>.hs` is there, input when `class_map` is."""
    names = list(names)
    return (any(n.endswith(".hs") for n in names),
            any(n == "class_map" or n.endswith(".class_map") for n in names))


def _pack_str(s, what):
    b = s.encode("utf-8")
    if not 1 <= len(b) <= 255:
        raise ModelFileError("%s %r: length must be 1..255 bytes" % (what, s))
    return _struct.pack("<H", len(b)) + b


def model_file_bytes(m):
    """The whole file as bytes (checksum included)."""
    if len(m.class_names) != m.K:
        raise ModelFileError("%d class names for K = %d" % (len(m.class_names), m.K))
    parts = [MODEL_MAGIC, _struct.pack("<8I", MODEL_VERSION, m.R, m.F, m.M, m.K, m.H, m.W, m.C)]
    parts += [_pack_str(c, "class name") for c in m.class_names]
    parts.append(_struct.pack("<QQQd", m.step, m.epoch, m.seed, m.lr))
    parts.append(_struct.pack("<I", len(m.meta)))
    for k, v in m.meta.items():
        parts += [_pack_str(k, "option name"), _pack_str(v, "option value")]
    if len(m.tensors) > MODEL_MAX_TENSORS:
        raise ModelFileError("%d tensors, at most %d" % (len(m.tensors), MODEL_MAX_TENSORS))
    parts.append(_struct.pack("<I", len(m.tensors)))
    for name, t in m.tensors.items():
        a = _np.ascontiguousarray(t, dtype="<f4")
        if not 1 <= a.ndim <= 4 or a.size == 0:
            raise ModelFileError("tensor %s: shape %s (need 1..4 axes, none empty)"
                                 % (name, a.shape))
        if not _np.all(_np.isfinite(a)):
            raise ModelFileError("tensor %s holds NaN or Inf" % name)
        parts += [_pack_str(name, "tensor name"), _struct.pack("<I", a.ndim),
                  _struct.pack("<%dI" % a.ndim, *a.shape), a.tobytes()]
    body = b"".join(parts)
    return body + _struct.pack("<I", _zlib.crc32(body) & 0xFFFFFFFF)


def write_bytes_atomic(path, data):
    """Writes data to path as pcnn_outfile does: '-' is stdout; an existing device or FIFO
    (/dev/full, a named pipe) is written in place; anything else goes to a temporary file
    beside path, fsync, rename, so an interrupted write never leaves a partial file.
    Raises OSError (the temporary file is then removed)."""
    import stat
    import sys
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        special = not stat.S_ISREG(_os.stat(path).st_mode) and \
            not stat.S_ISDIR(_os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
        return
    d = _os.path.dirname(_os.path.abspath(path))
    fd, tmp = _tempfile.mkstemp(prefix=".%s.tmp." % _os.path.basename(path), dir=d)
    try:
        with _os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            _os.fsync(f.fileno())
        _os.chmod(tmp, 0o644)
        _os.replace(tmp, path)
    except BaseException:
        try:
            _os.unlink(tmp)
        except OSError:
            pass
        raise


def write_model_file(path, m):
    """Atomic write of the model file (see write_bytes_atomic); '-' writes stdout."""
    write_bytes_atomic(path, model_file_bytes(m))


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n, what):
        if n > len(self.data) - self.pos:
            raise ModelFileError("truncated (in %s)" % what)
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt, what):
        return _struct.unpack("<" + fmt, self.take(_struct.calcsize("<" + fmt), what))

    def string(self, what):
        (n,) = self.unpack("H", what)
        if not 1 <= n <= 255:
            raise ModelFileError("bad %s length %d" % (what, n))
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError("%s is not UTF-8" % what)


def parse_model_file(data):
    """Parses and validates bytes; raises ModelFileError saying what is wrong."""
    if len(data) < 8 or data[:8] != MODEL_MAGIC:
        raise ModelFileError("not a pcnn model file (bad magic)")
    if len(data) < 12 + 28 + 4:
        raise ModelFileError("truncated (header)")
    (crc,) = _struct.unpack("<I", data[-4:])
    if _zlib.crc32(data[:-4]) & 0xFFFFFFFF != crc:
        raise ModelFileError("checksum mismatch (damaged or truncated file)")
    r = _Reader(data[:-4])
    r.take(8, "magic")
    (version,) = r.unpack("I", "version")
    if version != MODEL_VERSION:
        raise ModelFileError("version %d, this program reads version %d" % (version, MODEL_VERSION))
    R, F, M, K, H, W, C = r.unpack("7I", "header")
    if min(R, F, M, K, H, W, C) < 1 or K > 1024 or H > 4096 or W > 4096 or C > 4:
        raise ModelFileError("bad sizes R=%d F=%d M=%d K=%d H=%d W=%d C=%d"
                             % (R, F, M, K, H, W, C))
    names = [r.string("class name") for _ in range(K)]
    step, epoch, seed, lr = r.unpack("QQQd", "counters")
    m = ModelFile(R, F, M, K, H, W, C, names, step, epoch, seed, lr)
    (n_meta,) = r.unpack("I", "option count")
    if n_meta > len(data):
        raise ModelFileError("bad option count %d" % n_meta)
    for _ in range(n_meta):
        k = r.string("option name")
        m.meta[k] = r.string("option value")
    (n_t,) = r.unpack("I", "tensor count")
    if n_t > MODEL_MAX_TENSORS:
        raise ModelFileError("bad tensor count %d" % n_t)
    for _ in range(n_t):
        name = r.string("tensor name")
        (ndim,) = r.unpack("I", "tensor rank")
        if not 1 <= ndim <= 4:
            raise ModelFileError("tensor %s: bad rank %d" % (name, ndim))
        dims = r.unpack("%dI" % ndim, "tensor dims")
        n = 1
        for d in dims:
            if d < 1:
                raise ModelFileError("tensor %s: bad dims %s" % (name, dims))
            n *= d
        if 4 * n > len(data) - r.pos:
            raise ModelFileError("truncated (tensor %s)" % name)
        a = _np.frombuffer(r.take(4 * n, name), dtype="<f4").astype(_np.float32).reshape(dims)
        if not _np.all(_np.isfinite(a)):
            raise ModelFileError("tensor %s holds NaN or Inf" % name)
        if name in m.tensors:
            raise ModelFileError("tensor %s appears twice" % name)
        m.tensors[name] = a
    if r.pos != len(r.data):
        raise ModelFileError("%d stray bytes before the checksum" % (len(r.data) - r.pos))
    return m


def read_model_file(path):
    """Reads path ('-' = stdin); raises ModelFileError or OSError."""
    if path == "-":
        import sys
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    return parse_model_file(data)
# ---- END pcnn modelfile ----
