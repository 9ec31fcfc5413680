"""Connectomes: loading TVB's zip and text layout (as untrusted data), arrays, the shipped
example, delays from tract lengths and TVB's weight normalisations against hand-computed values.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from example_connectome import (  # tests/fixtures
    example_arrays,
    tvb_python,
    tvb_texts,
    write_zip,
)

from rates_core import Connectome, LinearCoupling, ModelError, connectome_io, load_connectome
from rates_core.connectome import safe_names


def small_arrays() -> dict:
    """4 regions, directed weights (row = target) with hand-checkable sums."""
    return {
        "weights": np.array(
            [[0.0, 2.0, 0.0, 1.0], [4.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 3.0], [0.0, 0.0, 0.5, 0.0]]
        ),
        "tract_lengths": np.array(
            [[0, 30.0, 0, 12.0], [30.0, 0, 0, 0], [0, 9.0, 0, 45.0], [0, 0, 6.0, 0]]
        ),
        "centres": np.array([[0.0, 0, 0], [3.0, 4, 0], [0, 0, 12.0], [1.0, 2, 2]]),
        "region_labels": ["lA", "lB", "rA", "rB"],
    }


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write(path: Path, members: dict[str, bytes | str]) -> Path:
    path.write_bytes(zip_bytes(members))
    return path


# --------------------------------------------------------------------------- loading


def test_zip_folder_and_arrays_give_the_same_connectome(tmp_path):
    arrays = example_arrays()
    write_zip(tmp_path / "c.zip", tvb_texts(arrays))
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, text in tvb_texts(arrays, tract_name="tract.txt").items():  # TVB's older name
        (folder / name).write_text(text)
    loaded = [load_connectome(tmp_path / "c.zip"), Connectome.from_file(str(folder))]
    direct = Connectome(**arrays)
    for conn in [*loaded, direct]:
        assert conn.n_regions == 16
        np.testing.assert_array_equal(conn.weights, arrays["weights"])
        np.testing.assert_array_equal(conn.tract_lengths, arrays["tract_lengths"])
        np.testing.assert_array_equal(conn.centres, arrays["centres"])
        assert conn.region_labels == tuple(arrays["region_labels"])
        np.testing.assert_array_equal(conn.hemispheres, arrays["hemispheres"])
        np.testing.assert_array_equal(conn.cortical, arrays["cortical"])
        np.testing.assert_array_equal(conn.areas, arrays["areas"])
        assert not conn.weights.flags.writeable
    assert loaded[0].file.endswith("c.zip")


def test_members_in_a_folder_of_the_zip_and_optional_files(tmp_path):
    arrays = small_arrays()
    texts = tvb_texts(arrays)
    path = write(tmp_path / "c.zip", {f"conn76/{k}": v for k, v in texts.items()} | {"README": "x"})
    conn = load_connectome(path)
    assert conn.hemispheres is None and conn.cortical is None and conn.areas is None
    np.testing.assert_array_equal(conn.weights, arrays["weights"])


def test_bzip2_members_and_extra_centre_columns_as_in_tvb_data(tmp_path, monkeypatch):
    import bz2

    arrays = small_arrays()
    texts = tvb_texts(arrays)
    centres = "".join(line + " None\n" for line in texts.pop("centres.txt").splitlines())
    members = {f"{k}.bz2": bz2.compress(v.encode()) for k, v in texts.items()}
    conn = load_connectome(write(tmp_path / "c.zip", members | {"centres.txt": centres}))
    np.testing.assert_array_equal(conn.weights, arrays["weights"])
    np.testing.assert_array_equal(conn.centres, arrays["centres"])
    monkeypatch.setattr(connectome_io, "MAX_MEMBER_BYTES", 10_000)
    bomb = {"weights.txt.bz2": bz2.compress(b"0 " * 2_000_000)}  # 4 MB in about 50 bytes
    with pytest.raises(ModelError, match="'weights.txt.bz2' is larger than 10000 bytes"):
        load_connectome(write(tmp_path / "bomb.zip", members | bomb))
    for data, message in (
        (b"BZh9 damaged", "not bzip2 data"),
        (bomb["weights.txt.bz2"][:30], "truncated"),
    ):
        with pytest.raises(ModelError, match=message):
            load_connectome(write(tmp_path / "bad.zip", members | {"weights.txt.bz2": data}))


def test_missing_tract_lengths_are_the_distances_of_the_centres():
    arrays = small_arrays()
    del arrays["tract_lengths"]
    conn = Connectome(**arrays)
    assert conn.tract_lengths[0, 1] == 5.0 and conn.tract_lengths[0, 2] == 12.0
    assert conn.tract_lengths[0, 3] == 3.0 and conn.tract_lengths[3, 0] == 3.0
    sparse = Connectome(sp.csr_matrix(arrays["weights"]))
    np.testing.assert_array_equal(sparse.weights, arrays["weights"])
    bare = Connectome(np.ones((3, 3)))
    assert bare.tract_lengths is None and bare.region_labels == ("region_0", "region_1", "region_2")
    with pytest.raises(ModelError, match="no tract lengths"):
        bare.delays(3.0)


def test_the_shipped_example_is_the_documented_synthetic_connectome():
    example = Connectome.example()
    arrays = example_arrays()
    assert example.n_regions == 16 and example.region_labels[:2] == ("lV1", "lV2")
    np.testing.assert_array_equal(example.weights, arrays["weights"])
    np.testing.assert_array_equal(example.tract_lengths, arrays["tract_lengths"])
    np.testing.assert_array_equal(example.weights, example.weights.T)  # undirected
    assert np.all(np.diag(example.weights) == 0)
    assert example.hemispheres.sum() == 8 and example.cortical.sum() == 14


def test_labels_are_kept_and_mapped_to_safe_names():
    labels = ["ctx-lh-bankssts", "Left-Thalamus", "3rd ventricle", "ctx_lh-bankssts", "ok_name"]
    conn = Connectome(np.zeros((5, 5)), region_labels=labels)
    assert conn.region_labels == tuple(labels)
    assert conn.names == (
        "ctx_lh_bankssts",
        "Left_Thalamus",
        "r_3rd_ventricle",
        "ctx_lh_bankssts_2",
        "ok_name",
    )
    assert safe_names(["a.b", "a-b"]) == ("a_b", "a_b_2")
    assert safe_names(["x" * 200])[0] == "x" * 128
    for bad in (["a", "a", "b"], ["a", "b\nc", "d"], ["a", "", "c"], ["a", "x" * 129, "c"]):
        with pytest.raises(ModelError, match="region label"):
            Connectome(np.zeros((3, 3)), region_labels=bad)
    with pytest.raises(ModelError, match="2 region labels for 3 regions"):
        Connectome(np.zeros((3, 3)), region_labels=["a", "b"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": np.ones((3, 4))}, "square N x N"),
        ({"weights": np.ones(3)}, "square N x N"),
        ({"weights": np.array([[0, np.nan], [1, 0]])}, r"finite numbers; entry \[0, 1\] is nan"),
        ({"weights": np.array([[0, -1.0], [1, 0]])}, "not be negative; row 0, column 1"),
        ({"weights": np.array([["a", "b"], ["c", "d"]])}, "real numbers"),
        ({"tract_lengths": np.ones((3, 3))}, r"tract_lengths have shape \(3, 3\)"),
        ({"tract_lengths": np.array([[0, np.inf], [1, 0]])}, "finite"),
        ({"tract_lengths": np.array([[0, -2.0], [1, 0]])}, "not be negative"),
        ({"centres": np.ones((2, 2))}, r"centres have shape \(2, 2\), expected \(2, 3\)"),
        ({"hemispheres": [0, 2]}, "booleans"),
        ({"hemispheres": [0, 1, 1]}, "one per region"),
        ({"areas": [1.0, -1.0]}, "not be negative"),
    ],
)
def test_bad_arrays_are_model_errors(change, message):
    values = {"weights": np.array([[0, 1.0], [1, 0]])} | change
    with pytest.raises(ModelError, match=message):
        Connectome(**values)


# --------------------------------------------------------------------------- hostile files


def good_texts() -> dict[str, str]:
    return tvb_texts(small_arrays())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights.txt": "0 1 2\n1 0\n0 0 0\n"}, "'weights.txt' line 2 has 2 values"),
        ({"weights.txt": "0 1\n1 zero\n"}, "'weights.txt' line 2: 'zero' is not a number"),
        ({"weights.txt": "0 nan 0 0\n" * 4}, "'weights.txt' line 1: 'nan' is not a finite"),
        ({"weights.txt": "0 1e999 0 0\n" * 4}, "not a finite number"),
        ({"weights.txt": ""}, "'weights.txt' is empty"),
        ({"weights.txt": "0 1 0\n" * 3}, "'centres.txt' has 4 regions, 'weights.txt' has 3"),
        ({"weights.txt": b"\xff\xfe0 1"}, "not UTF-8"),
        ({"tract_lengths.txt": "0 -1 0 0\n" * 4}, "tract_lengths must not be negative"),
        ({"centres.txt": "lA 0 0\n"}, "'centres.txt' line 1: a centre is 'label x y z'"),
        ({"centres.txt": "lA 0 0 0\nlB 1 1 1\nlA 2 2 2\nrB 3 3 3\n"}, "used by regions 0 and 2"),
        ({"hemispheres.txt": "0\n1\nyes\n0\n"}, "'hemispheres.txt' line 3: 'yes' is not 0/1"),
        ({"areas.txt": "1\n2\n3\n"}, "'areas.txt' has 3 regions"),
    ],
)
def test_bad_members_name_the_file_member_and_line(tmp_path, change, message):
    path = write(tmp_path / "bad.zip", good_texts() | change)
    with pytest.raises(ModelError, match=message) as info:
        load_connectome(path)
    assert "bad.zip" in str(info.value)


def test_missing_members_and_not_a_zip(tmp_path):
    texts = good_texts()
    del texts["weights.txt"]
    with pytest.raises(ModelError, match="no weights.txt"):
        load_connectome(write(tmp_path / "a.zip", texts))
    texts = good_texts()
    del texts["centres.txt"]
    with pytest.raises(ModelError, match="no centres.txt or centers.txt"):
        load_connectome(write(tmp_path / "b.zip", texts))
    (tmp_path / "c.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelError, match="not a readable zip"):
        load_connectome(tmp_path / "c.zip")
    with pytest.raises(ModelError, match="no connectome zip or folder"):
        load_connectome(tmp_path / "nothing.zip")
    twice = good_texts() | {"sub/weights.txt": good_texts()["weights.txt"]}
    with pytest.raises(ModelError, match="two members hold the weights"):
        load_connectome(write(tmp_path / "d.zip", twice))


@pytest.mark.parametrize("name", ["../weights.txt", "/etc/weights.txt", "a/../../x.txt", "C:x"])
def test_path_traversal_members_refuse_the_archive(tmp_path, name):
    path = write(tmp_path / "evil.zip", good_texts() | {name: "0"})
    with pytest.raises(ModelError, match="absolute path or '..': refused"):
        load_connectome(path)
    assert sorted(os.listdir(tmp_path)) == ["evil.zip"]  # nothing was extracted


def test_zip_bombs_are_refused_before_reading_them_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(connectome_io, "MAX_MEMBER_BYTES", 10_000)
    bomb = "0 " * 2_000_000  # 4 MB of text compresses to a few kB
    path = write(tmp_path / "bomb.zip", good_texts() | {"weights.txt": bomb})
    assert path.stat().st_size < 50_000
    with pytest.raises(ModelError, match="larger than 10000 bytes"):
        load_connectome(path)
    # a header that lies about the size: the read itself stops at the cap
    data = bytearray(path.read_bytes())
    size = len(bomb.encode()).to_bytes(4, "little")
    small = (100).to_bytes(4, "little")
    data = data.replace(size, small)
    (tmp_path / "liar.zip").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="'weights.txt' cannot be read: Bad CRC"):
        load_connectome(tmp_path / "liar.zip")
    monkeypatch.setattr(connectome_io, "MAX_MEMBERS", 8)
    many = good_texts() | {f"junk{k}.txt": "" for k in range(8)}
    with pytest.raises(ModelError, match="has 11 members"):
        load_connectome(write(tmp_path / "many.zip", many))
    monkeypatch.setattr(connectome_io, "MAX_MEMBER_BYTES", 10**6)
    monkeypatch.setattr(connectome_io, "MAX_TOTAL_BYTES", 100)
    with pytest.raises(ModelError, match="more than 100 bytes together"):
        load_connectome(write(tmp_path / "total.zip", good_texts()))


def test_a_folder_file_larger_than_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(connectome_io, "MAX_MEMBER_BYTES", 100)
    for name, text in good_texts().items():
        (tmp_path / name).write_text(text if name != "weights.txt" else "0 " * 100)
    with pytest.raises(ModelError, match="'weights.txt' is larger than 100 bytes"):
        load_connectome(tmp_path)


# --------------------------------------------------------------------------- helpers


def test_delays_are_tract_length_over_speed_in_the_stated_unit():
    conn = Connectome(**small_arrays())
    ms = conn.delays(3.0)  # mm / (mm/ms) = ms
    assert ms[0, 1] == pytest.approx(10.0, rel=1e-15) and ms[2, 3] == pytest.approx(15.0)
    np.testing.assert_allclose(conn.delays(3.0, time_unit="s"), ms / 1000.0, rtol=1e-15)
    np.testing.assert_allclose(conn.delays(1.5), 2.0 * ms, rtol=1e-15)
    for speed in (0.0, -1.0, np.nan, np.inf, "3", True):
        with pytest.raises(ModelError, match="conduction speed"):
            conn.delays(speed)
    with pytest.raises(ModelError, match="time_unit"):
        conn.delays(3.0, time_unit="min")


def test_tract_and_region_normalisation_against_hand_computed_values():
    conn = Connectome(**small_arrays())
    # tract: divided by the largest single weight, 4
    np.testing.assert_allclose(conn.normalised("tract").weights, conn.weights / 4.0, rtol=1e-15)
    np.testing.assert_array_equal(conn.normalised("edge").weights, conn.weights / 4.0)
    # region: divided by the largest row sum (input of a region): rows 3, 4, 4, 0.5 -> 4
    assert conn.weights.sum(axis=1).tolist() == [3.0, 4.0, 4.0, 0.5]
    np.testing.assert_array_equal(conn.normalised("region").weights, conn.weights / 4.0)
    # a matrix where the two modes differ: max weight 2, max row sum 2 + 1.5 = 3.5
    other = Connectome(np.array([[0, 2.0, 1.5], [1.0, 0, 0], [0.5, 0.5, 0]]))
    np.testing.assert_array_equal(other.normalised("tract").weights, other.weights / 2.0)
    np.testing.assert_array_equal(other.normalised("region").weights, other.weights / 3.5)
    np.testing.assert_array_equal(other.normalised("node").weights, other.weights / 3.5)
    assert other.normalised(None) is other and other.normalised("none") is other
    np.testing.assert_array_equal(other.weights[0], [0, 2.0, 1.5])  # the original is kept
    with pytest.raises(ModelError, match="normalisation mode"):
        other.normalised("max")
    with pytest.raises(ModelError, match="all weights are zero"):
        Connectome(np.zeros((2, 2))).normalised("tract")


def test_connectivity_and_circuit_carry_weights_delays_and_coupling():
    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate

    conn = Connectome(**small_arrays())
    (lin,) = conn.connectivity(
        "r/op/x", "r/op/c", coupling=LinearCoupling(a=0.5), speed=3.0, normalise="tract"
    )
    np.testing.assert_allclose(lin.weights, 0.5 * conn.weights / 4.0, rtol=1e-15)
    np.testing.assert_allclose(lin.delays, conn.delays(3.0), rtol=1e-15)
    (plain,) = conn.connectivity("r/op/x", "r/op/c")
    assert plain.delays is None
    np.testing.assert_array_equal(plain.weights, conn.weights)
    with pytest.raises(ModelError, match="coupling must be"):
        conn.connectivity("r/op/x", "r/op/c", coupling="linear")
    op = OperatorTemplate("op", "x' = -x + c", {"x": "output(0.0)", "c": "input(0.0)"})
    circuit = conn.circuit(NodeTemplate("n", operators=[op]), "op/x", "op/c", speed=3.0)
    assert isinstance(circuit, CircuitTemplate) and circuit["regions"].n == 4
    assert circuit.connectivity[0].source == "regions/op/x"
    with pytest.raises(ModelError, match="population name"):
        conn.circuit(NodeTemplate("n", operators=[op]), "op/x", "op/c", population="a-b")


# --------------------------------------------------------------------------- TVB itself


@pytest.mark.skipif(tvb_python() is None, reason="no Python with tvb-library (RATES_TVB_PYTHON)")
def test_tvb_reads_the_example_and_rates_reads_every_tvb_data_connectome():
    """TVB's own loader reads the shipped example as rates does, and rates reads every
    connectome of tvb-data (connectivity_76.zip ...) as TVB does: same weights, tract lengths
    and labels, exactly."""
    import json
    import subprocess

    example = Path(__import__("rates_core.connectomes").connectomes.__file__).parent
    script = f"""
import glob, json, os, tvb_data
from tvb.datatypes.connectivity import Connectivity
def read(path):
    c = Connectivity.from_file(path)
    return {{"w": c.weights.tolist(), "l": c.tract_lengths.tolist(),
             "labels": c.region_labels.tolist()}}
folder = os.path.join(os.path.dirname(tvb_data.__file__), "connectivity")
out = {{path: read(path) for path in sorted(glob.glob(os.path.join(folder, "*.zip")))}}
out["example"] = read({str(example / "example_16.zip")!r})
print(json.dumps(out))
"""
    done = subprocess.run([tvb_python(), "-c", script], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"tvb-library did not run: {done.stderr[-300:]}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert any(path.endswith("connectivity_76.zip") for path in seen)
    for path, tvb in seen.items():
        ours = Connectome.example() if path == "example" else load_connectome(path)
        np.testing.assert_array_equal(ours.weights, tvb["w"], err_msg=path)
        np.testing.assert_array_equal(ours.tract_lengths, tvb["l"], err_msg=path)
        assert ours.region_labels == tuple(tvb["labels"]), path
