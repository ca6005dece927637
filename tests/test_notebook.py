"""srlab.notebook: parameters are checked, profiles fill the gaps, provenance is recorded."""

import pytest

from srlab import notebook

PROFILES = {"smoke": {"iters": 2, "lr": 0.1}, "quick": {"iters": 100, "lr": 0.01}}


def namespace(**overrides):
    """A notebook's globals after its parameters cell (and papermill's injected cell)."""
    ns = {
        "__annotations__": {"profile": str, "iters": int | None, "lr": float | None, "name": str},
        "In": [],
        "Out": {},
        "profile": "quick",
        "iters": None,
        "lr": None,
        "name": "a",
        "PROFILES": PROFILES,  # the notebook's own constants are not parameters
    }
    ns.update(overrides)
    return ns


def test_profile_fills_only_what_is_not_given():
    p = notebook.resolve_parameters(namespace(iters=7), PROFILES)
    assert (p.profile, p.iters, p.lr, p.name) == ("quick", 7, 0.01, "a")
    assert notebook.resolve_parameters(namespace(profile="smoke"), PROFILES).iters == 2


def test_unknown_parameter_is_an_error_naming_it():
    with pytest.raises(ValueError, match="segmnets"):
        notebook.resolve_parameters(namespace(segmnets=4), PROFILES)


def test_wrong_type_and_unknown_profile():
    with pytest.raises(TypeError, match="iters"):
        notebook.resolve_parameters(namespace(iters="10"), PROFILES)
    with pytest.raises(TypeError, match="iters"):
        notebook.resolve_parameters(namespace(iters=True), PROFILES)
    assert notebook.resolve_parameters(namespace(lr=1), PROFILES).lr == 1  # int is a float
    with pytest.raises(ValueError, match="profile"):
        notebook.resolve_parameters(namespace(profile="fast"), PROFILES)


def test_parse_seeds():
    assert notebook.parse_seeds("0, 1,2") == [0, 1, 2]
    for bad in ("", "a,b"):
        with pytest.raises(ValueError, match="seeds"):
            notebook.parse_seeds(bad)


def test_provenance_records_parameters_and_commit():
    p = notebook.resolve_parameters(namespace(), PROFILES)
    rec = notebook.Provenance(p).record()
    assert rec["parameters"]["iters"] == 100
    assert {"git_commit", "srlab_version", "date_utc", "wall_time_s", "threads"} <= set(rec)
    assert set(rec["load_average_1min"]) == {"start", "end"}


def test_a_name_papermill_injected_must_be_declared_in_any_case():
    """papermill's injected cell (in IPython's input history) may set only declared names:
    `-p ITERS 5` or `-p _iters 5` would otherwise be ignored without a word."""
    for name in ("ITERS", "_iters", "Iters"):
        cell = f"# Parameters\nprofile = 'smoke'\n{name} = 5\n"
        with pytest.raises(ValueError, match=rf"\['{name}'\] \(did you mean '{name}' -> 'iters'"):
            notebook.resolve_parameters(namespace(In=["", cell], **{name: 5}), PROFILES)
    cell = "# Parameters\nprofile = 'smoke'\niters = 5\n"
    assert notebook.resolve_parameters(namespace(In=["", cell], iters=5), PROFILES).iters == 5


def test_an_int_is_accepted_where_a_string_of_seeds_is_expected():
    """papermill passes `-p seeds 0` as the int 0, `-p seeds 0,1` as the str "0,1"."""
    ns = namespace(seeds=0)
    ns["__annotations__"] = {**ns["__annotations__"], "seeds": str | None}
    p = notebook.resolve_parameters(ns, PROFILES)
    assert p.seeds == "0" and notebook.parse_seeds(p.seeds) == [0]
    ns["seeds"] = True  # a bool is not a list of seeds
    with pytest.raises(TypeError, match="seeds"):
        notebook.resolve_parameters(ns, PROFILES)


def test_relative_dir_parameters_are_relative_to_the_notebooks_folder(tmp_path):
    ns = namespace(out_dir="figs/new", results_dir=str(tmp_path), data_dir="")
    ns["__annotations__"] = {**ns["__annotations__"], "out_dir": str, "results_dir": str,
                             "data_dir": str}  # fmt: skip
    p = notebook.resolve_parameters(ns, PROFILES)
    assert p.out_dir == str(notebook.NOTEBOOKS_DIR / "figs" / "new")  # not the kernel's cwd
    assert p.results_dir == str(tmp_path)  # absolute: as given
    assert p.data_dir == ""  # empty: the notebook's own default, whatever it means there


def test_the_torchrun_runner_refuses_what_is_not_a_notebook(tmp_path, capsys):
    assert notebook.main([]) == 2  # usage
    assert "torchrun --nproc_per_node" in capsys.readouterr().err
    assert notebook.main(["-p", "profile", "paper"]) == 2
    assert notebook.main([str(tmp_path / "run.py")]) == 2
    assert notebook.main([str(tmp_path / "missing.ipynb")]) == 2
    assert "no notebook" in capsys.readouterr().err


def test_provenance_records_where_the_numbers_were_computed(monkeypatch):
    import types

    import torch

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    params = types.SimpleNamespace(profile="smoke")
    record = notebook.Provenance(params, device=torch.device("cpu"), precision="fp32").record()
    assert (record["device"], record["precision"], record["world_size"]) == ("cpu", "fp32", 1)
    assert "device" not in notebook.Provenance(params).record()  # notebooks that train nothing
