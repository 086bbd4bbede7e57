"""Fuzzing the public API and the file readers with generated bad input (hypothesis).

The contract under test: every public function either returns a correct result or raises
:class:`qkernels.InputError` (a ValueError) with a message; never an exception of another kind,
never a partial file. The command line answers bad input with exit status 2 and one line.
NumPy and torch inputs (half precision included) are accepted or refused alike; integers at the
boundary (seeds, shots, sizes) are range-checked; environment variables, Markdown text and file
names derived from data are fuzzed too (issue 19).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qkernels
from qkernels import InputError
from qkernels.core.safeio import read_csv_limited, read_json_limited
from qkernels.quantum import estimation, planner
from qkernels.suite.cli import main
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections import parse_sections

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])

_DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.bool_, np.complex128])
_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, 1e-320, 1.0])


@st.composite
def arrays(draw, max_dims: int = 3) -> object:
    """Arrays of any small shape and dtype (often with NaN/Inf), or things that are not arrays."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from([None, "abc", 3, 2.5, [], [[1.0, 2.0], [3.0]], {"a": 1}, b"\x00", object()]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    dtype = draw(_DTYPES)
    if np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating):
        arr = draw(hnp.arrays(dtype, shape, elements=st.floats(-10, 10, width=16 if dtype == np.float16 else 32)))
        if arr.size and draw(st.booleans()):
            arr.flat[draw(st.integers(0, arr.size - 1))] = draw(_SPECIAL)
    else:
        arr = draw(hnp.arrays(dtype, shape))
    if kind in (3, 4) and arr.ndim and arr.size and np.issubdtype(arr.dtype, np.floating):
        # often a valid input: rows scaled to unit norm (the correct-result path)
        a = np.abs(arr.astype(np.float64))
        norms = np.linalg.norm(a, axis=-1, keepdims=True)
        if np.isfinite(a).all() and (norms > 0).all():
            arr = a / norms
    if kind == 1:  # float16 stays float16: torch's half precision must behave as NumPy's
        return torch.from_numpy(np.ascontiguousarray(arr))
    if kind == 2:
        return arr.tolist()
    return arr


def _unit_rows(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _call(fn, *args, **kwargs):
    """fn(*args): the result, or None when it raised InputError; anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        assert str(exc).strip(), f"{fn.__name__} raised an InputError without a message"
        return None


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))


@FUZZ
@given(arrays(), arrays())
def test_state_distances(a, b):
    for fn, hi in ((qkernels.fs_distance, math.pi / 2), (qkernels.w2_cumulative, 1.0), (qkernels.w1_cumulative, 1.0)):
        out = _call(fn, a, b)
        if out is not None:  # accepted: both were unit vectors; the value is a distance
            v = np.asarray(out, dtype=np.float64)
            assert _finite(v) and (v >= 0).all() and (v <= hi + 1e-9).all(), (fn.__name__, v)


@FUZZ
@given(arrays(max_dims=2), st.one_of(st.none(), arrays(max_dims=2)))
def test_pairwise_distances(A, B):
    for fn in (qkernels.pairwise_fs, qkernels.pairwise_w2_cumulative):
        out = _call(fn, A, B)
        if out is not None:
            v = np.asarray(out, dtype=np.float64)
            assert v.ndim == 2 and _finite(v) and (v >= 0).all()
            if B is None:
                np.testing.assert_allclose(v, v.T, atol=1e-6)


@FUZZ
@given(arrays(), st.one_of(st.none(), arrays()))
def test_operators_and_spectra(W, b):
    aug = _call(qkernels.augmented, W, b)
    if aug is not None:
        A = np.asarray(aug, dtype=np.float64)
        assert _finite(A) and (A[..., -1, -1] == 1.0).all()
        s = _call(qkernels.spectrum, aug)
        assert s is not None  # a valid augmented matrix always has a spectrum
        s = np.asarray(s, dtype=np.float64)
        assert _finite(s) and (s >= 0).all() and (np.diff(s, axis=-1) <= 1e-9 * max(1.0, s.max())).all()
        psi = _call(qkernels.state, s)
        assert psi is not None and (abs(np.linalg.norm(np.asarray(psi, dtype=np.float64), axis=-1) - 1) < 1e-6).all()
    s = _call(qkernels.spectrum, W)
    if s is not None:
        assert _finite(s)
    psi = _call(qkernels.state, W)
    if psi is not None:
        assert _finite(psi)
    v = _call(qkernels.w2_empirical, W, b if b is not None else W)
    if v is not None:
        assert _finite(v) and (np.asarray(v, dtype=np.float64) >= 0).all()


_NUMBERS = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.none(),
                     st.sampled_from(["3", "swap", True]))
_NAMES = st.one_of(st.text(max_size=12), st.sampled_from(["swap", "compute-uncompute", "relu", "resnet18", "mlp", "cpu"]))


@FUZZ
@given(_NUMBERS, _NUMBERS, _NAMES)
def test_shot_planning_and_counts(eps, delta, method):
    plan = _call(qkernels.plan_shots, eps, delta, method)
    if plan is not None:
        assert isinstance(plan.shots, int) and plan.shots >= 1 and 0 < plan.eps and 0 < plan.delta < 1
    F = _call(estimation.fidelity_from_counts, np.asarray([0, 1, 2]), eps, method)
    if F is not None:
        assert _finite(F) and ((np.asarray(F) >= -1) & (np.asarray(F) <= 1)).all()
    lo_hi = _call(estimation.proportion_interval, np.asarray([1]), eps, delta)
    if lo_hi is not None:
        lo, hi = lo_hi
        assert (np.asarray(lo) <= np.asarray(hi)).all()
    d = _call(estimation.fs_from_fidelity, eps)
    if d is not None:
        assert _finite(d) and 0 <= float(d) <= math.pi / 2 + 1e-12


@FUZZ
@given(_NAMES)
def test_names(name):
    for fn in (qkernels.get_activation, qkernels.get_method, qkernels.resolve_device):
        _call(fn, name)
    m = _call(qkernels.build_model, name)
    if m is not None:
        assert isinstance(m, torch.nn.Module)


@FUZZ
@given(_NUMBERS)
def test_prune_sparsity_range(sparsity):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    model(torch.zeros(1, 1, 6, 6))
    out = _call(qkernels.prune, model, "l1", sparsity, torch.zeros(1, 1, 6, 6))
    if out is not None:
        assert 0 <= float(sparsity) < 1


# ---- readers of files other people made --------------------------------------------------------

_BYTES = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8")),
                   st.sampled_from([b"a,b\n1,2\n3", b'a,b\n"1,2\n', b"\xff\xfe\x00", b"{}", b"[]", b"null",
                                    b'{"a": NaN}', b"x\n" + b"1\n" * 50, b"PK\x03\x04", b"\x80\x04\x95"]))


@FUZZ
@given(_BYTES)
def test_result_readers(tmp_path, blob):
    p = tmp_path / "f"
    p.write_bytes(blob)
    df = _call(read_csv_limited, p)
    assert df is None or isinstance(df, pd.DataFrame)
    _call(read_json_limited, p)
    rf = RunFolder(tmp_path)
    rf.env_path.write_bytes(blob)
    env = _call(rf.read_env)
    assert env is None or isinstance(env, dict)


@FUZZ
@given(_BYTES, st.sampled_from([".pt", ".pth", ".safetensors", ".bin"]))
def test_checkpoint_readers(tmp_path, blob, suffix):
    p = tmp_path / f"ckpt{suffix}"
    p.write_bytes(blob)
    state = _call(qkernels.load_state_dict, p)
    assert state is None or all(isinstance(v, torch.Tensor) for v in state.values())
    if suffix == ".safetensors":
        assert _call(qkernels.load_pruned, p) is None


# ---- the command line: bad arguments are exit 2 and write nothing ------------------------------

_ARG = st.one_of(st.text(max_size=8), st.sampled_from(["-1", "nan", "1e9", "", "..", "/", "quick", "full", "metrics",
                                                       "nope", "cuda:7", "npu", "fs,zz", "layer"]))


@FUZZ
@given(st.sampled_from(["--profile", "--sections", "--seed", "--device"]), _ARG)
def test_cli_run_bad_arguments(tmp_path, capsys, flag, value):
    if flag == "--profile" and value in ("quick", "full") or flag == "--seed" and value.isdigit():
        return  # a valid value would start a real run
    if flag == "--sections":
        try:
            parse_sections(value)
            return  # valid sections: a real run
        except InputError:
            pass
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    args = ["run", "--out", str(out), "--no-progress", flag, value]
    if flag != "--sections":
        args += ["--sections", "no-such-section"]  # always invalid, so no real run can start
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir()), "a refused run wrote files"


@FUZZ
@given(_ARG, _ARG)
def test_cli_distances_bad_arguments(capsys, metric, granularity):
    code = main(["distances", "mlp", "--metric", metric, "--granularity", granularity])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert "Traceback" not in err and err.strip()


# ---- one bad argument per public function: an InputError with a message ------------------------

def _lin(n_in=3, n_out=3):
    return torch.nn.Linear(n_in, n_out)


BAD_CALLS = {
    "extract_operators(None)": lambda: qkernels.extract_operators(None),
    "extract_operators(granularity)": lambda: qkernels.extract_operators(_lin(), "x"),
    "extract_operators(no operators)": lambda: qkernels.extract_operators(torch.nn.Sequential(torch.nn.ReLU())),
    "operators_from_state_dict({})": lambda: qkernels.operators_from_state_dict({}),
    "operators_from_state_dict(NaN)": lambda: qkernels.operators_from_state_dict({"fc.weight": torch.full((2, 2), np.nan)}),
    "distance_table(metric)": lambda: qkernels.distance_table(qkernels.extract_operators(_lin()), metrics=("zz",)),
    "check_bounds(R<0)": lambda: qkernels.check_bounds(_lin(), _lin(), "relu", -1.0),
    "check_bounds(R NaN)": lambda: qkernels.check_bounds(_lin(), _lin(), "relu", float("nan")),
    "check_bounds(shapes)": lambda: qkernels.check_bounds(_lin(), _lin(4, 3), "relu", 1.0),
    "witness_gap(NaN x)": lambda: qkernels.witness_gap(_lin(), _lin(), "relu", [np.nan, 0, 0]),
    "witness_gap(x shape)": lambda: qkernels.witness_gap(_lin(), _lin(), "relu", [0.0, 0.0]),
    "time_callable(not callable)": lambda: qkernels.time_callable(3),
    "time_callable(repeat 0)": lambda: qkernels.time_callable(lambda: 1, repeat=0),
    "load_data(unknown)": lambda: qkernels.load_data("nope"),
    "digits(size)": lambda: qkernels.digits(size=-1),
    "QuantumKernel(shots 0)": lambda: qkernels.QuantumKernel(shots=0),
    "QuantumKernel(device)": lambda: qkernels.QuantumKernel(device="zz.qubit"),
    "Noise(p 2)": lambda: qkernels.Noise(p=2.0),
    "Noise(p NaN)": lambda: qkernels.Noise(p=float("nan")),
    "prune(method)": lambda: qkernels.prune(_lin(), "zz", 0.5, torch.zeros(1, 3)),
    "prune(sparsity NaN)": lambda: qkernels.prune(_lin(), "l1", float("nan"), torch.zeros(1, 3)),
    "load_pruned(missing)": lambda: qkernels.load_pruned("/nonexistent/x.safetensors"),
    "load_model(unknown)": lambda: qkernels.load_model("nope"),
    "spectrum(method)": lambda: qkernels.spectrum(np.eye(2), method="zz"),
    "plan_shots(eps 0)": lambda: qkernels.plan_shots(0.0),
    "failure_probability(shots 0)": lambda: planner.failure_probability(0, 0.1, 0.5, "swap"),
    "fs_bias(shots 0)": lambda: estimation.fs_bias(0.5, 0, "swap"),
    "bias_warning(NaN)": lambda: estimation.bias_warning(np.array([np.nan]), 10),
    "bias_warning(threshold<0)": lambda: estimation.bias_warning(np.array([0.5]), 10, threshold=-1),
    "register_method(name)": lambda: qkernels.register_method("", lambda ctx: None, ""),
    "get_activation(3)": lambda: qkernels.get_activation(3),
}


@pytest.mark.parametrize("call", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_each_public_function_refuses_bad_input_clearly(call):
    with pytest.raises(InputError) as info:
        call()
    assert str(info.value).strip() and "\n" not in str(info.value).strip()


# ---- issue 19: the same validation for NumPy and torch, integers at the boundary ---------------

_FLOAT_ARRAYS = st.builds(
    lambda a, scale: (np.abs(a.astype(np.float64)) * scale).astype(a.dtype) if scale else a,
    hnp.arrays(st.sampled_from([np.float64, np.float32, np.float16]),
               hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4),
               elements=st.floats(-4, 4, width=16)),
    st.sampled_from([0, 1]),
)


def _unit(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a.astype(np.float64), axis=-1, keepdims=True)
    return (a / np.where(n > 0, n, 1)).astype(a.dtype) if np.isfinite(a).all() else a


def _refused(fn, *args) -> bool:
    try:
        fn(*args)
    except InputError:
        return True
    return False


@FUZZ
@given(_FLOAT_ARRAYS, st.booleans())
def test_numpy_and_torch_inputs_are_accepted_or_refused_alike(a, normalize):
    if normalize:
        a = _unit(a)
    t = torch.from_numpy(np.ascontiguousarray(a))
    for fn in (lambda x: qkernels.fs_distance(x, x), lambda x: qkernels.w2_cumulative(x, x), qkernels.state,
               qkernels.spectrum, qkernels.augmented, lambda x: qkernels.pairwise_fs(x.reshape(1, -1))):
        assert _refused(fn, a) == _refused(fn, t), (fn, a.dtype, a)


_BIG_INTS = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([2**63 - 1, 2**63, 2**64, -1, 0]))


@FUZZ
@given(_BIG_INTS)
def test_seeds_and_shots_are_range_checked(n):
    from qkernels.core.checks import check_seed

    ok = 0 <= n <= 2**63 - 1
    assert _refused(check_seed, n) == (not ok)
    assert _refused(qkernels.QuantumKernel, "swap", "default.qubit", None, None, n) == (not ok)
    assert _refused(qkernels.QuantumKernel, "swap", "default.qubit", n) == (not (1 <= n <= 2**63 - 1))


@FUZZ
@given(st.floats(1e-12, 1.57), st.floats(1e-12, 0.999), st.sampled_from(["swap", "compute_uncompute"]),
       st.sampled_from(["chernoff", "hoeffding"]))
def test_shot_plans_are_positive_integers_or_refused(eps, delta, method, bound):
    plan = _call(qkernels.plan_shots, eps, delta, method, bound=bound)
    if plan is not None:
        assert isinstance(plan.shots, int) and 1 <= plan.shots <= 2**63 - 1


_SEED_ARGS = st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(max_size=6),
                       st.sampled_from(["-1", "1e3", "0x10", "1.5", str(2**63), "99999999999999999999"]))


@FUZZ
@given(st.sampled_from(["run", "distances", "prune"]), _SEED_ARGS)
def test_cli_seeds_are_one_range_in_every_command(tmp_path, capsys, command, seed):
    try:
        ok = 0 <= int(seed) <= 2**63 - 1
    except ValueError:
        ok = False
    if ok:
        return  # a valid seed would start real work
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    args = {"run": ["run", "--out", str(out), "--no-progress", "--sections", "metrics"],
            "distances": ["distances", "mlp"], "prune": ["prune", "mlp", "--method", "l1", "--sparsity", "0.5"]}[command]
    code = main(args + ["--seed", seed])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and "--seed" in err, err
    assert not out.exists()


@FUZZ
@given(st.sampled_from(["QK_MAX_RESULT_BYTES", "QK_MAX_MEMORY"]), st.text(max_size=10))
def test_environment_variables_are_valid_or_an_error_naming_them(var, value):
    import os

    from qkernels.core.envvars import check_environment

    if "\0" in value:
        return  # not representable in the environment
    old = os.environ.get(var)
    os.environ[var] = value
    try:
        check_environment()
    except InputError as exc:
        assert var in str(exc)
    finally:
        if old is None:
            del os.environ[var]
        else:
            os.environ[var] = old


@FUZZ
@given(st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_markdown_carries_no_raw_html_or_images_from_cells(cells):
    from qkernels.suite.document.blocks import Paragraph, Table, to_markdown

    md = to_markdown([Table(pd.DataFrame({"c": cells})), Paragraph(cells[0])])
    assert "<" not in md.replace("&lt;", "")
    assert "![" not in md


@FUZZ
@given(st.lists(st.text(max_size=100), min_size=1, max_size=5, unique=True))
def test_file_names_from_data_stay_in_the_folder_and_apart(tmp_path, names):
    from qkernels.suite.runfolder import safe_name

    rf = RunFolder(tmp_path)
    paths = [rf.figure(f"metrics_fs_{safe_name(n)}.png") for n in names]
    assert all(p.parent == rf.figures for p in paths)
    assert len({p.name for p in paths}) == len(names)
