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
