"""The numpy and math names reward code may use (CONTRACT §1): one explicit list, read by the static
critic (every attribute chain rooted at numpy or math must be on it) and by the sandbox (reward code's
read-only numpy and math hold these names and nothing else). The exported module runs with the real
numpy, so this list, not the sandbox, is what keeps it to numbers: no submodule object, no file, process
or memory function, no process-wide numpy setting, no global random state.

``python -m rewardsmith.sandbox.allowlist`` prints it.
"""

from __future__ import annotations

import difflib

# ``namespace.name`` paths per module; a namespace (np.linalg) may only stand before one of its names,
# never be held as a value. Left out on purpose, among others: np.ndarray (its constructor makes object
# arrays over raw bytes), np.resize's in-place twin, every submodule but these three, load/save/memmap,
# seterr/errstate/printoptions (process-wide state that carries from call to call), np.random's global
# functions, vectorize/frompyfunc, testing, ctypeslib, lib.
NUMPY_NAMESPACES = ("linalg", "fft", "random")

_NUMPY = {
    "constants": "pi e inf nan euler_gamma newaxis",
    "types": "bool_ bool int8 int16 int32 int64 int_ intp uint8 uint16 uint32 uint64 float16 float32 "
             "float64 double single complex64 complex128 generic number integer signedinteger "
             "unsignedinteger floating complexfloating inexact dtype finfo iinfo",
    "arithmetic and ufuncs": (
        "abs absolute fabs sign sqrt cbrt square exp exp2 expm1 log log2 log10 log1p logaddexp logaddexp2 "
        "sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh arctanh asin acos atan "
        "atan2 asinh acosh atanh deg2rad rad2deg degrees radians hypot sinc power pow float_power add "
        "subtract multiply divide true_divide floor_divide mod remainder fmod divmod modf negative positive "
        "reciprocal maximum minimum fmax fmin clip floor ceil trunc rint fix round around isfinite isnan "
        "isinf isneginf isposinf signbit copysign nextafter spacing heaviside nan_to_num real imag conj "
        "conjugate angle gcd lcm frexp ldexp i0 equal not_equal less less_equal greater greater_equal "
        "logical_and logical_or logical_not logical_xor allclose isclose array_equal array_equiv isscalar"),
    "reductions and statistics": (
        "sum prod mean average median std var min max amin amax ptp argmin argmax cumsum cumprod "
        "nansum nanprod nanmean nanmedian nanstd nanvar nanmin nanmax nanargmin nanargmax nancumsum "
        "nancumprod percentile quantile nanpercentile nanquantile all any count_nonzero diff ediff1d "
        "gradient trapezoid histogram histogram_bin_edges bincount digitize corrcoef cov convolve "
        "correlate interp"),
    "array construction": (
        "array asarray asanyarray ascontiguousarray copy zeros ones full empty zeros_like ones_like "
        "full_like empty_like eye identity arange linspace logspace geomspace meshgrid diag diagflat tri "
        "tril triu vander frombuffer fromiter"),
    "shapes and indexing": (
        "reshape ravel transpose swapaxes moveaxis squeeze expand_dims atleast_1d atleast_2d atleast_3d "
        "broadcast_to broadcast_arrays concatenate stack hstack vstack dstack column_stack split "
        "array_split flip fliplr flipud roll rot90 tile repeat append insert delete pad ndim shape size "
        "where select choose take take_along_axis argsort sort partition argpartition searchsorted "
        "nonzero argwhere flatnonzero extract compress diagonal indices unravel_index ravel_multi_index "
        "isin unique tril_indices triu_indices apply_along_axis piecewise"),
    "linear algebra and polynomials": (
        "dot vdot inner outer matmul cross tensordot einsum kron trace polyval polyfit polyder polyint "
        "roots"),
    "np.linalg": (
        "linalg.norm linalg.det linalg.inv linalg.pinv linalg.solve linalg.lstsq linalg.eig linalg.eigh "
        "linalg.eigvals linalg.eigvalsh linalg.svd linalg.qr linalg.cholesky linalg.matrix_rank "
        "linalg.matrix_power linalg.cond linalg.slogdet linalg.multi_dot linalg.vector_norm "
        "linalg.matrix_norm linalg.LinAlgError"),
    "np.fft": ("fft.fft fft.ifft fft.rfft fft.irfft fft.fft2 fft.ifft2 fft.fftn fft.ifftn fft.fftfreq "
               "fft.rfftfreq fft.fftshift fft.ifftshift"),
    "seeded generators": "random.default_rng random.Generator",
}
# a ufunc's own methods, for the ufuncs on the list (np.add.reduce); ``at`` changes its argument in place
UFUNC_METHODS = ("reduce", "accumulate", "outer", "reduceat")

_MATH = {
    "constants": "pi e tau inf nan",
    "functions": (
        "acos acosh asin asinh atan atan2 atanh cbrt ceil comb copysign cos cosh degrees dist erf erfc "
        "exp exp2 expm1 fabs factorial floor fmod frexp fsum gamma gcd hypot isclose isfinite isinf isnan "
        "isqrt lcm ldexp lgamma log log10 log1p log2 modf nextafter perm pow prod radians remainder sin "
        "sinh sqrt tan tanh trunc ulp"),
}

# what ``why_not`` says of well-known names that are off the list on purpose
_REFUSED = {
    "file, process or raw-memory access": (
        "load save savez savez_compressed fromfile tofile memmap loadtxt savetxt genfromtxt fromregex "
        "ctypeslib DataSource testing test show_config show_runtime ndarray fromstring info lookfor"),
    "numpy's process-wide settings, which carry from call to call": (
        "seterr geterr seterrcall geterrcall errstate set_printoptions get_printoptions printoptions "
        "setbufsize getbufsize set_string_function"),
}


def _paths(table: dict) -> frozenset:
    return frozenset(name for names in table.values() for name in names.split())


def _numpy_ufuncs() -> frozenset:
    import numpy as np

    return frozenset(n for n in _paths(_NUMPY) if isinstance(getattr(np, n, None), np.ufunc))


NUMPY = _paths(_NUMPY) | {f"{u}.{m}" for u in _numpy_ufuncs() for m in UFUNC_METHODS}
MATH = _paths(_MATH)
ALLOWED = {"numpy": NUMPY, "math": MATH}
NAMESPACES = {"numpy": frozenset(NUMPY_NAMESPACES), "math": frozenset()}


def global_random_names() -> frozenset:
    """np.random's functions that draw from (or set) numpy's global random state: a reward could
    count its own calls with them (a time bomb), so none is on the list."""
    import numpy.random as nr

    bound = {n for n, v in vars(nr).items() if getattr(v, "__self__", None) is nr.mtrand._rand}
    return frozenset(bound | {"seed", "ranf", "sample", "get_bit_generator", "set_bit_generator"})


def allowed(module: str, path: str) -> bool:
    """Whether ``module``'s ``path`` (``"linalg.norm"``, ``"add.reduce"``) is a value reward code may use."""
    return path in ALLOWED[module]


def is_namespace(module: str, path: str) -> bool:
    """Whether ``path`` names one of ``module``'s namespaces on the list (``"linalg"``)."""
    return path in NAMESPACES[module]


def nearest(module: str, path: str) -> str | None:
    """The allowed name spelt most like the first off-list part of ``path`` (``"lib.npyio"`` ->
    ``"linalg"``), as a path, or None when nothing is close."""
    parts = path.split(".")
    known = ALLOWED[module] | NAMESPACES[module]
    depth = next((i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) not in known), len(parts))
    prefix = ".".join(parts[:depth - 1])
    siblings = {p.split(".")[depth - 1] for p in known
                if p.count(".") >= depth - 1 and ".".join(p.split(".")[:depth - 1]) == prefix}
    spaces = sorted(n for n in NAMESPACES[module] if n.count(".") == depth - 1)
    # a chain that goes on past the off-list part was after a submodule: offer the namespaces first
    close = depth < len(parts) and difflib.get_close_matches(parts[depth - 1], spaces, n=1, cutoff=0.4) \
        or difflib.get_close_matches(parts[depth - 1], sorted(siblings), n=1, cutoff=0.5)
    if close:
        return f"{prefix}.{close[0]}" if prefix else close[0]
    close = difflib.get_close_matches(path, sorted(known), n=1, cutoff=0.5)
    return close[0] if close else None


def why_not(module: str, path: str) -> str | None:
    """Why a well-known off-list name is left off, if it is one."""
    name = path.split(".")[-1] if module == "numpy" and path.startswith("random.") else path.split(".")[0]
    if module == "numpy" and path.startswith("random.") and name in global_random_names():
        return "it uses numpy's global random state"
    for reason, names in _REFUSED.items():
        if module == "numpy" and name in names.split():
            return reason
    return None


def describe() -> str:
    """The list as text, by category (what ``python -m rewardsmith.sandbox.allowlist`` prints)."""
    lines = ["numpy (import numpy as np; also `from numpy import NAME`, `from numpy.linalg import NAME`):"]
    for category, names in _NUMPY.items():
        lines.append(f"  {category}: {' '.join(sorted(names.split()))}")
    lines.append(f"  ufunc methods, on the ufuncs above: {' '.join(UFUNC_METHODS)} (np.add.reduce)")
    lines.append("math (import math):")
    for category, names in _MATH.items():
        lines.append(f"  {category}: {' '.join(sorted(names.split()))}")
    lines.append("Nothing else of numpy or math: no other submodule, no file, process or memory function, "
                 "no process-wide setting, no global random state.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
