"""float32 GEMMs whose left operand is a layer's weights, packed once: out = a @ b by a
register-blocked micro-kernel that this module writes in LLVM IR and Numba compiles.

Why not OpenBLAS (blas.py) for these: it packs `a` again on every call, and GoogLeNet's GEMMs at
batch 1 are narrow (49-224 columns: the Winograd stacks, the 7x7 and 14x14 stages), so that
packing is a large share of each call. Here the weights are packed when the layer is prepared,
`b` is read where it lies, and each thread keeps an MR x NR block of `out` in registers over the
whole of K; a wide `b` goes in chunks of columns that stay in cache through every panel. Measured
against OpenBLAS, shape by shape and in the whole step: benchmarks/README.md ("Packed-weights
GEMM kernel").

Around the blocks: the last 1-4 columns ride with the panel's last block or vector, a vector of
MR rows each (a product of only one or two columns goes to column kernels, several panels at a
time), and the last 5-15 go to a masked block; a layer's bias, a residual connection's other
summand and the fused ReLU are applied as the blocks are stored (`matmul`'s bias, residual, relu,
cap), so the forward of a convolution makes one pass over its output; and backward, the mask of
the activation before the layer (`matmul`'s mask, mask_cap), after any accumulation. Every
element of out is the same chain of fused multiply-adds in k whichever kernel computes it, so how
the columns fall does not change a bit.

The kernel is LLVM IR rather than a Numba loop because Numba keeps a block of accumulators in
memory, not registers (a plain triple loop ran at 8-16 GFLOP/s); LLVM IR vectors and llvm.fma
are portable, so any target LLVM knows gets a working kernel, sized below for AVX-512 or not.
"""
import numba
import numpy as np
from llvmlite import binding, ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import aligned


def _has_avx512():
    # the features Numba compiles for: NUMBA_CPU_FEATURES when set (a portable build), else the host's
    if numba.config.CPU_FEATURES is not None:
        features = numba.config.CPU_FEATURES
    else:
        try:
            features = binding.get_host_cpu_features().flatten()
        except RuntimeError:  # llvmlite cannot read them on this host
            return False
    return "+avx512f" in features.split(",")


_AVX512 = _has_avx512()
# Vector width W (floats) and the MR x (NV*W) block of out held in registers: 16 accumulators of
# 16 floats with AVX-512 (32 vector registers), else 12 of 8 (AVX2's 16 registers: 12 + 2 loads + 1
# broadcast)
W, MR, NV = (16, 8, 2) if _AVX512 else (8, 6, 2)
NR = NV * W
# Whether conv.py should use this kernel: measured faster than OpenBLAS only with AVX-512. Compiled
# for AVX2 on the same host (6 x 16 blocks) it lost to OpenBLAS's AVX-512 kernels on 7 of
# GoogLeNet's 11 GEMM shapes (conv1: 162 -> 120 GFLOP/s); on a machine without AVX-512 OpenBLAS
# has no such kernels either, but that was not measured, so there OpenBLAS stays.
PAYS = _AVX512
PREFETCH = 256  # floats of a panel ahead of the one read, prefetched in each step of k
CHUNK = 512  # at most this many columns of b to a task
# ... and, where such a chunk of b would fill L2 (1 MB: half of this machine's L2 per core), as
# many as make 512 KB, at least 64: every panel of a task's rows reads the whole chunk, which
# otherwise comes from L3 each time (ResNet-50's 3x3 stride-2 layers, K = 1152 and 2304; the
# timings: benchmarks/README.md, "Step time")
CHUNK_BYTES_MOST, CHUNK_BYTES, CHUNK_LEAST = 1 << 20, 1 << 19, 64


def pack(a):
    """The left operand a (M, K) (or a stack (S, M, K)), float32, any strides, laid out for the
    kernel: (P, K, MR) (or (S, P, K, MR)) float32 with P = ceil(M / MR), rows past M zero, on a
    64-byte boundary (aligned.py). NumPy in, NumPy out."""
    a = np.asarray(a, np.float32)
    m, k = a.shape[-2:]
    p = -(-m // MR)
    padded = np.zeros(a.shape[:-2] + (p * MR, k), np.float32)
    padded[..., :m, :] = a
    out = aligned.empty(a.shape[:-2] + (p, k, MR), np.float32)  # each k's MR weights on one cache line
    out[...] = np.swapaxes(padded.reshape(a.shape[:-2] + (p, MR, k)), -1, -2)
    return out


def matmul(ap, b, out, accumulate=False, bias=None, relu=False, cap=np.inf, residual=None, mask=None,
           mask_cap=np.inf):
    """out = a @ b, or out += a @ b when accumulate, for a packed by `pack`; or, not accumulating,
    out = act(a @ b + bias[:, None] + residual) as the blocks are stored (no pass of its own);
    with mask, what would be stored is then multiplied by (0 < mask < mask_cap) (plain ReLU's
    test, mask > 0, when mask_cap is inf): the gradient of a fused activation's input, written or
    accumulated whole.

    ap: (P, K, MR) from pack(a) with a (M, K); b: (K, N) float32 with contiguous rows (any row
    stride); out: (M, N) float32 with contiguous rows; bias: None or (M,) float32, contiguous;
    relu: apply min(max(., 0), cap) (cap: float, inf for a plain ReLU); residual, mask: None or
    (M, N) float32 with contiguous rows (not both; residual only when not accumulating; mask not
    with a bias or activation). Bit for bit the separate passes: (a @ b + bias) + residual, then
    the activation, as add.py's forward; (out + a @ b) * (0 < mask < cap), as relu.py's and
    activation.py's backward. Shared out over Numba's threads by chunks of columns and panels of
    rows."""
    if accumulate and (bias is not None or relu or residual is not None):
        raise ValueError("a bias, residual or activation applies to a product written, not added")
    if mask is not None and (bias is not None or relu or residual is not None):
        raise ValueError("a mask applies to a gradient: no bias, residual or activation with it")
    side = out if residual is None and mask is None else (residual if mask is None else mask)
    if side.shape != out.shape:
        raise ValueError(f"a residual or mask of shape {side.shape} for a product of shape {out.shape}")
    mode = _PLAIN if side is out else (_RESIDUAL if mask is None else _MASK)
    _matmul(ap, out.shape[0], b, b.strides[0] // 4, out, out.strides[0] // 4, accumulate,
            _NO_BIAS if bias is None else bias, bias is not None, relu,
            np.float32(mask_cap if mode == _MASK else cap), side, side.strides[0] // 4, mode)


_NO_BIAS = np.zeros(1, np.float32)  # stands in for "no bias", so that _matmul has one signature
# what the side operand of the epilogue is: none (out itself stands in: its loads are unused), a
# summand added before the activation, or the input whose activation's mask multiplies the result
_PLAIN, _RESIDUAL, _MASK = 0, 1, 2


def matmul_stacked(ap, b, out):
    """out[i] = a[i] @ b[i] for every i, for a stack packed by `pack`.

    ap: (S, P, K, MR) from pack(a) with a (S, M, K); b: (S, K, N) and out: (S, M, N), float32
    with contiguous rows (any row and stack strides, multiples of 4 bytes: rows may be padded so
    that each starts on a cache line). The stack is split over Numba's threads."""
    _matmul_stacked(ap, b, out)


def _splat(builder, value, n):
    i32 = ir.IntType(32)
    undef = ir.Constant(ir.VectorType(value.type, n), ir.Undefined)
    one = builder.insert_element(undef, value, ir.Constant(i32, 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(i32, n), [0] * n))


def _row_bias(builder, has_bias, biasp, row):
    # bias[row] (a float) where there is a bias, else 0.0: the pointer is loaded only where it is one
    f32 = ir.FloatType()
    with builder.if_else(has_bias) as (then, otherwise):
        with then:
            here = builder.block
            value = builder.load(builder.gep(biasp, [ir.Constant(ir.IntType(64), row)]))
        with otherwise:
            there = builder.block
    phi = builder.phi(f32)
    phi.add_incoming(value, here)
    phi.add_incoming(ir.Constant(f32, 0.0), there)
    return phi


def _finished(builder, total, old, bias, side, has_bias, on, cap, add, residual, masked, cap_inf):
    # what a sum becomes as it is stored (total, old: what out held, bias, side, cap: a float or
    # vectors of them alike): not adding, + bias where there is one (total + 0.0 would turn a -0.0
    # sum into +0.0), + side where it is a residual, then with `on` min(v * (v > 0), cap), bit for
    # bit conv.bias_act's and add.py's arithmetic (NaN stays NaN); adding, old + total; then, where
    # side is a mask, times (side > 0) and, below a finite cap, (side < cap), as relu.py's and
    # activation.py's backward do
    t = total.type
    vec = isinstance(t, ir.VectorType)
    zero = ir.Constant(t, [0.0] * t.count) if vec else ir.Constant(t, 0.0)
    biased = builder.select(has_bias, builder.fadd(total, bias), total)
    biased = builder.select(residual, builder.fadd(biased, side), biased)
    relu = builder.fmul(biased, builder.uitofp(builder.fcmp_ordered(">", biased, zero), t))
    relu = builder.select(builder.fcmp_ordered("<", cap, relu), cap, relu)
    done = builder.select(add, builder.fadd(old, total), builder.select(on, relu, biased))
    below = builder.fcmp_ordered("<", side, cap)
    if vec:
        cap_inf = _splat(builder, cap_inf, t.count)
    keep = builder.and_(builder.fcmp_ordered(">", side, zero), builder.or_(below, cap_inf))
    return builder.select(masked, builder.fmul(done, builder.uitofp(keep, t)), done)


def _epilogue_flags(builder, acc, bias, act, cap, mode):
    # the kernels' runtime switches as i1 values: (add, has_bias, on, residual, masked, cap_inf)
    def nonzero(v):
        return builder.icmp_signed("!=", v, ir.Constant(v.type, 0))

    def equal(v, k):
        return builder.icmp_signed("==", v, ir.Constant(v.type, k))
    cap_inf = builder.fcmp_ordered("==", cap, ir.Constant(cap.type, np.inf))
    return nonzero(acc), nonzero(bias), nonzero(act), equal(mode, _RESIDUAL), equal(mode, _MASK), cap_inf


def _kernel(nv, masked, extra=0):
    """An intrinsic: the MR x (nv*W + extra) block c[r, j] (+)= sum_k a[k, r] * b[k, j], with a a
    packed panel (K, MR) and b, c rows ldb, ldc floats apart (addresses as intp). Rows of c from
    `rows` on are not stored; with `masked`, only the first `rem` columns of the last vector are
    read from b or touch c. The `extra` (0-4) columns after the vectors take a vector of MR rows
    each, as the column kernels do: a product's last 1-4 columns so ride with its last vector,
    while the panel is in L1 (49 columns = 32 + 16 + 1). Unless acc: with `bias` (the address of
    the panel's first row's bias, 0: none) each row's bias is added to its sum, with mode
    _RESIDUAL the side operand's element too, and with `act` the sum v becomes
    min(v * (v > 0), cap), bit for bit conv.bias_act's arithmetic (NaN stays NaN); with mode
    _MASK the result (added or not) is multiplied by the side operand's mask (`_finished`). side:
    the address of the block's first element in an array laid out as c (rows lds floats apart;
    with _PLAIN, c itself)."""
    @intrinsic
    def kernel(typingctx, a, b, ldb, c, ldc, k, rows, acc, rem, bias, act, cap, side, lds, mode):
        sig = types.void(*([types.intp] * 11), types.float32, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            a, b, ldb, c, ldc, k, rows, acc, rem, bias, act, cap, side, lds, mode = args
            f32, i1, i32 = ir.FloatType(), ir.IntType(1), ir.IntType(32)
            vt, mt = ir.VectorType(f32, W), ir.VectorType(i1, W)
            fp, vp = f32.as_pointer(), vt.as_pointer()
            mod = builder.module
            fma = cgutils.get_or_insert_function(mod, ir.FunctionType(vt, [vt, vt, vt]), f"llvm.fma.v{W}f32")
            mload = cgutils.get_or_insert_function(mod, ir.FunctionType(vt, [vp, i32, mt, vt]),
                                                   f"llvm.masked.load.v{W}f32.p0v{W}f32")
            mstore = cgutils.get_or_insert_function(mod, ir.FunctionType(ir.VoidType(), [vt, vp, i32, mt]),
                                                    f"llvm.masked.store.v{W}f32.p0v{W}f32")
            zero, four = ir.Constant(vt, [0.0] * W), ir.Constant(i32, 4)
            i8p = ir.IntType(8).as_pointer()
            # (address, write 0, locality 3 = keep in every level, data cache 1)
            prefetch = cgutils.get_or_insert_function(mod, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                                      "llvm.prefetch.p0i8")
            lanes = ir.Constant(ir.VectorType(ir.IntType(64), W), list(range(W)))
            mask = builder.icmp_signed("<", lanes, _splat(builder, rem, W)) if masked else None
            ap, bp, cp = (builder.inttoptr(x, fp) for x in (a, b, c))

            def vector(row, v):  # pointer to vector v of a row
                return builder.bitcast(builder.gep(row, [ir.Constant(ldb.type, v * W)]), vp)

            def load(q, last):
                if masked and last:
                    return builder.call(mload, [q, four, mask, zero])
                return builder.load(q, align=4)

            accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(nv)] for _ in range(MR)]
            ct = ir.VectorType(f32, MR)  # the extra columns' vectors: MR rows of one column
            cfma = cgutils.get_or_insert_function(mod, ir.FunctionType(ct, [ct, ct, ct]), f"llvm.fma.v{MR}f32")
            cols = [cgutils.alloca_once_value(builder, ir.Constant(ct, [0.0] * MR)) for _ in range(extra)]
            with cgutils.for_range(builder, k) as loop:  # mem2reg keeps the accumulators in registers
                i = loop.index
                brow = builder.gep(bp, [builder.mul(i, ldb)])
                bv = [load(vector(brow, v), v == nv - 1) for v in range(nv)]
                arow = builder.gep(ap, [builder.mul(i, ir.Constant(i.type, MR))])
                # the panel's weights a kilobyte ahead (past its end: the next panel, a thread's next
                # task): they come from L3 or memory once per step, and the hardware's prefetcher
                # alone left the first block of each panel waiting (ResNet-50 step: benchmarks/README.md)
                ahead = builder.bitcast(builder.gep(arow, [ir.Constant(i.type, PREFETCH)]), i8p)
                builder.call(prefetch, [ahead, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
                for r in range(MR):
                    s = _splat(builder, builder.load(builder.gep(arow, [ir.Constant(i.type, r)])), W)
                    for v in range(nv):
                        builder.store(builder.call(fma, [s, bv[v], builder.load(accs[r][v])]), accs[r][v])
                if extra:
                    av = builder.load(builder.bitcast(arow, ct.as_pointer()), align=4)
                    for j in range(extra):
                        bj = builder.load(builder.gep(brow, [ir.Constant(ldb.type, nv * W + j)]))
                        builder.store(builder.call(cfma, [av, _splat(builder, bj, MR), builder.load(cols[j])]),
                                      cols[j])
            add, has_bias, on, residual, masked_by, cap_inf = _epilogue_flags(builder, acc, bias, act, cap, mode)
            caps = _splat(builder, cap, W)
            biasp, sp = builder.inttoptr(bias, fp), builder.inttoptr(side, fp)
            for r in range(MR):
                with builder.if_then(builder.icmp_signed("<", ir.Constant(rows.type, r), rows)):
                    crow = builder.gep(cp, [builder.mul(ir.Constant(ldc.type, r), ldc)])
                    srow = builder.gep(sp, [builder.mul(ir.Constant(lds.type, r), lds)])
                    row_bias = _row_bias(builder, has_bias, biasp, r)
                    bv_row = _splat(builder, row_bias, W)
                    for v in range(nv):
                        q, total = vector(crow, v), builder.load(accs[r][v])
                        last = v == nv - 1
                        total = _finished(builder, total, load(q, last), bv_row, load(vector(srow, v), last),
                                          has_bias, on, caps, add, residual, masked_by, cap_inf)
                        if masked and last:
                            builder.call(mstore, [total, q, four, mask])
                        else:
                            builder.store(total, q, align=4)
                    for j in range(extra):
                        ptr = builder.gep(crow, [ir.Constant(ldc.type, nv * W + j)])
                        sj = builder.load(builder.gep(srow, [ir.Constant(lds.type, nv * W + j)]))
                        total = builder.extract_element(builder.load(cols[j]), ir.Constant(i32, r))
                        builder.store(_finished(builder, total, builder.load(ptr), row_bias, sj, has_bias, on, cap,
                                                add, residual, masked_by, cap_inf), ptr)
            return context.get_dummy_value()
        return sig, codegen
    return kernel


def _column_kernel(g, ncols):
    """An intrinsic: the last `ncols` columns j of `g` consecutive panels, c[r, j] (+)= sum_k
    a[k, r] * b[k, j] for the g*MR rows, a vector of MR rows per panel and column (the blocks'
    kernels hold a vector of columns per row: for the last few columns they spent a whole
    vector's work on each row). a: the first panel (K, MR), the others `pstride` bytes apart;
    b: the first of the columns' first elements, rows ldb floats apart; c: row 0 of the first
    column, rows ldc floats apart (addresses as intp); rows: rows stored in the last panel (the
    others: MR). Each sum is the same chain of fused multiply-adds in k as in the blocks, and
    acc, bias, act, cap, side, lds and mode act as there, so the results are the same bits."""
    @intrinsic
    def kernel(typingctx, a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode):
        sig = types.void(*([types.intp] * 11), types.float32, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode = args
            f32, i32 = ir.FloatType(), ir.IntType(32)
            vt = ir.VectorType(f32, MR)
            fp, vp = f32.as_pointer(), vt.as_pointer()
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]),
                                                 f"llvm.fma.v{MR}f32")
            zero = ir.Constant(vt, [0.0] * MR)
            panels = [builder.inttoptr(builder.add(a, builder.mul(pstride, ir.Constant(a.type, q))), fp)
                      for q in range(g)]
            bp, cp, biasp, sp = (builder.inttoptr(x, fp) for x in (b, c, bias, side))
            accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(ncols)] for _ in range(g)]
            with cgutils.for_range(builder, k) as loop:
                i = loop.index
                brow = builder.gep(bp, [builder.mul(i, ldb)])
                bk = [_splat(builder, builder.load(builder.gep(brow, [ir.Constant(i.type, j)])), MR)
                      for j in range(ncols)]
                at = builder.mul(i, ir.Constant(i.type, MR))
                for q in range(g):
                    av = builder.load(builder.bitcast(builder.gep(panels[q], [at]), vp), align=4)
                    for j in range(ncols):
                        builder.store(builder.call(fma, [av, bk[j], builder.load(accs[q][j])]), accs[q][j])
            add, has_bias, on, residual, masked_by, cap_inf = _epilogue_flags(builder, acc, bias, act, cap, mode)
            for q in range(g):
                totals = [builder.load(accs[q][j]) for j in range(ncols)]
                for r in range(MR):
                    row = q * MR + r
                    keep = ir.Constant(ir.IntType(1), 1) if q < g - 1 else \
                        builder.icmp_signed("<", ir.Constant(rows.type, r), rows)
                    with builder.if_then(keep):
                        crow = builder.gep(cp, [builder.mul(ir.Constant(ldc.type, row), ldc)])
                        srow = builder.gep(sp, [builder.mul(ir.Constant(lds.type, row), lds)])
                        row_bias = _row_bias(builder, has_bias, biasp, row)
                        for j in range(ncols):
                            total = builder.extract_element(totals[j], ir.Constant(i32, r))
                            ptr = builder.gep(crow, [ir.Constant(ldc.type, j)])
                            sj = builder.load(builder.gep(srow, [ir.Constant(lds.type, j)]))
                            builder.store(_finished(builder, total, builder.load(ptr), row_bias, sj, has_bias, on,
                                                    cap, add, residual, masked_by, cap_inf), ptr)
            return context.get_dummy_value()
        return sig, codegen
    return kernel


_block = _kernel(NV, False)   # MR x NR, the body
_vector = _kernel(1, False)   # MR x W, the columns left after the last whole block
_partial = _kernel(1, True)   # MR x (< W), the last few
# The last 1-4 columns (49 = 3 x 16 + 1: the 7x7 stage, every Winograd stack of 7 x 7 tiles; 196
# = 12 x 16 + 4: the 14x14 stage) ride with the panel's last block or vector (below), while the
# panel is in L1. As tasks of their own the panels were read again after the blocks, from L3 for
# a layer's weights, and 4 columns in a masked vector were slower too (benchmarks/README.md,
# "Step time"). 5-15 stay with the masked kernel.
COLUMNS_UP_TO = 2  # a product narrower than a vector: its 1 or 2 columns go to the column kernels
_block1, _block2, _block3, _block4 = (_kernel(NV, False, e) for e in (1, 2, 3, 4))
_vector1, _vector2, _vector3, _vector4 = (_kernel(1, False, e) for e in (1, 2, 3, 4))
EXTRA_UP_TO = 4  # the last columns that ride along (above)
# Products of only 1 or 2 columns: panels at a time, enough independent chains of fused
# multiply-adds (panels x columns = 8) to hide their latency
_PANELS = np.array((0, 8, 4), np.int64)  # panels per task for 1, 2 columns
_c1, _c1_one = _column_kernel(8, 1), _column_kernel(1, 1)
_c2, _c2_one = _column_kernel(4, 2), _column_kernel(1, 2)


@njit(cache=True, inline="always")
def _split(n):
    # (columns for the blocks and vectors, last columns that ride with them or, in a product
    # narrower than a vector, go to the column kernels)
    rem = n % W
    if n >= W:
        return (n - rem, rem) if rem <= EXTRA_UP_TO else (n, 0)
    return (n - rem, rem) if rem <= COLUMNS_UP_TO else (n, 0)


@njit(cache=True, inline="always")
def _panel(a, k, rows, b, ldb, n, extra, c, ldc, acc, bias, act, cap, side, lds, mode):
    # one packed panel of MR rows against the n columns of b, then `extra` (0-4) more with the last
    # block or vector (n is then a multiple of W); addresses in bytes, strides in floats; side: laid
    # out as c, its first element's address (see _kernel)
    last = 0 if not extra else (NR if n % NR == 0 else W)  # the kernel that takes the extra columns
    j = 0
    while j + NR <= n - last:
        _block(a, b + 4 * j, ldb, c + 4 * j, ldc, k, rows, acc, 0, bias, act, cap, side + 4 * j, lds, mode)
        j += NR
    while j + W <= n - last:
        _vector(a, b + 4 * j, ldb, c + 4 * j, ldc, k, rows, acc, 0, bias, act, cap, side + 4 * j, lds, mode)
        j += W
    if extra:
        _with_extra(last == NR, extra, a, b + 4 * j, ldb, c + 4 * j, ldc, k, rows, acc, bias, act, cap,
                    side + 4 * j, lds, mode)
    elif j < n:
        _partial(a, b + 4 * j, ldb, c + 4 * j, ldc, k, rows, acc, n - j, bias, act, cap, side + 4 * j, lds, mode)


@njit(cache=True, inline="always")
def _with_extra(block, extra, a, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode):
    # the last block (block) or vector of a panel, with `extra` (1-4) columns after it
    if block:
        if extra == 1:
            _block1(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
        elif extra == 2:
            _block2(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
        elif extra == 3:
            _block3(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
        else:
            _block4(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
    elif extra == 1:
        _vector1(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
    elif extra == 2:
        _vector2(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
    elif extra == 3:
        _vector3(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)
    else:
        _vector4(a, b, ldb, c, ldc, k, rows, acc, 0, bias, act, cap, side, lds, mode)


@njit(cache=True, inline="always")
def _column_call(g, rem, a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode):
    # the kernel for `rem` columns of g panels (g: _PANELS[rem], or 1)
    if rem == 1:
        if g == 1:
            _c1_one(a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode)
        else:
            _c1(a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode)
    elif g == 1:
        _c2_one(a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode)
    else:
        _c2(a, pstride, b, ldb, c, ldc, k, rows, acc, bias, act, cap, side, lds, mode)


@njit(cache=True, inline="always")
def _column_group(a0, p0, p_count, k, m, b, ldb, c, ldc, acc, bias, act, cap, side, lds, mode, rem):
    # the last `rem` columns (b, c, side: the first one's first elements) of panels p0 .. p0 + g - 1,
    # g = _PANELS[rem] (fewer at the end: one at a time)
    g = _PANELS[rem]
    p1 = min(p_count, p0 + g)
    if p1 - p0 == g:
        _column_call(g, rem, a0 + 4 * p0 * k * MR, 4 * k * MR, b, ldb, c + 4 * p0 * MR * ldc, ldc, k,
                     min(MR, m - (p1 - 1) * MR), acc, bias + 4 * p0 * MR if bias != 0 else 0, act, cap,
                     side + 4 * p0 * MR * lds, lds, mode)
    else:
        for p in range(p0, p1):
            _column_call(1, rem, a0 + 4 * p * k * MR, 4 * k * MR, b, ldb, c + 4 * p * MR * ldc, ldc, k,
                         min(MR, m - p * MR), acc, bias + 4 * p * MR if bias != 0 else 0, act, cap,
                         side + 4 * p * MR * lds, lds, mode)


@njit(cache=True, parallel=True)
def _matmul(ap, m, b, ldb, out, ldc, accumulate, bias, has_bias, relu, cap, side, lds, mode):
    # tasks run chunk of columns by chunk, every panel within one, so that a thread's panels reuse
    # the chunk of b from cache (conv1, 12544 columns: 160 -> 184 GFLOP/s; a long K makes the
    # chunks narrower, see CHUNK_BYTES); chunks of equal widths,
    # since the threads take contiguous runs of tasks (784 columns as 512 + 272: 216 -> 176); a
    # narrow b is one chunk, and the threads share out its panels. The last 1-4 columns (49 =
    # 3 x 16 + 1: the 7x7 stage) go with the last chunk's panels, or, in a product of only 1 or 2
    # columns, to the column kernels, a task per group of panels
    p_count, k = ap.shape[0], ap.shape[1]
    main, rem = _split(b.shape[1])
    most = CHUNK
    if 4 * k * min(CHUNK, main) > CHUNK_BYTES_MOST:
        most = max(CHUNK_LEAST, CHUNK_BYTES // (4 * k))
    chunks = -(-main // most)
    width = -(-main // (chunks * W)) * W if chunks else 0
    per = _PANELS[rem]
    groups = -(-p_count // per) if rem and not main else 0
    body = chunks * p_count
    a0, b0, c0, s0 = ap.ctypes.data, b.ctypes.data, out.ctypes.data, side.ctypes.data
    bias0 = bias.ctypes.data if has_bias else 0
    for t in prange(body + groups):
        if t < body:
            j, p = (t // p_count) * width, t % p_count
            if j < main:
                n = min(width, main - j)
                _panel(a0 + 4 * p * k * MR, k, min(MR, m - p * MR), b0 + 4 * j, ldb, n, rem if j + n == main else 0,
                       c0 + 4 * (p * MR * ldc + j), ldc, int(accumulate), bias0 + 4 * p * MR if has_bias else 0,
                       int(relu), cap, s0 + 4 * (p * MR * lds + j), lds, mode)
        else:
            _column_group(a0, (t - body) * per, p_count, k, m, b0 + 4 * main, ldb, c0 + 4 * main, ldc,
                          int(accumulate), bias0, int(relu), cap, s0 + 4 * main, lds, mode, rem)


@njit(cache=True, parallel=True)
def _matmul_stacked(ap, b, out):
    s_count, p_count, k = ap.shape[0], ap.shape[1], ap.shape[2]
    m, n = out.shape[1], out.shape[2]
    main, rem = _split(n)
    a0, b0, c0 = ap.ctypes.data, b.ctypes.data, out.ctypes.data
    # strides in floats: rows may be longer than n (padded so that each starts on a cache line)
    bs, ldb, cs, ldc = b.strides[0] // 4, b.strides[1] // 4, out.strides[0] // 4, out.strides[1] // 4
    zero = np.float32(0)
    for s in prange(s_count):
        a_s, b_s, c_s = a0 + 4 * s * p_count * k * MR, b0 + 4 * s * bs, c0 + 4 * s * cs
        for p in range(p_count):
            c_p = c_s + 4 * p * MR * ldc  # the epilogue's side operand: out itself, unused (_PLAIN)
            _panel(a_s + 4 * p * k * MR, k, min(MR, m - p * MR), b_s, ldb, main, rem if main else 0,
                   c_p, ldc, 0, 0, 0, zero, c_p, ldc, _PLAIN)
        if rem and not main:
            for p0 in range(0, p_count, _PANELS[rem]):
                _column_group(a_s, p0, p_count, k, m, b_s + 4 * main, ldb, c_s + 4 * main, ldc, 0, 0, 0, zero,
                              c_s + 4 * main, ldc, _PLAIN, rem)
