"""A run's settings: declared once (rewardsmith.config), from which the evolve options, validation,
resume rules and reading config.json back follow."""

import json

import pytest

from conftest import invoke
from rewardsmith.cli import main
from rewardsmith.config import SETTINGS, EvolveConfig, option_name
from rewardsmith.errors import ConfigError


def test_every_setting_with_an_option_is_an_evolve_option_with_its_help():
    params = {p.name: p for p in main.commands["evolve"].params}
    for name, decl in SETTINGS.items():
        if decl.option:
            assert params[name].opts == [option_name(name)]
            assert params[name].help.startswith(decl.help)
        else:
            assert name not in params


def _out_of_bounds(decl):
    if decl.choices:
        return "neither"
    if decl.minimum is not None:
        return decl.kind(decl.minimum - 1)
    if decl.above is not None:
        return decl.kind(decl.above)
    if decl.maximum is not None:
        return decl.kind(decl.maximum + 1)
    return None


BOUNDED = [(name, _out_of_bounds(decl)) for name, decl in SETTINGS.items() if _out_of_bounds(decl) is not None]


@pytest.mark.parametrize("name,value", BOUNDED, ids=[n for n, _ in BOUNDED])
def test_an_out_of_bounds_setting_is_an_error_naming_its_option(name, value):
    with pytest.raises(ConfigError, match=option_name(name)):
        EvolveConfig(task="t", **{name: value}).validate()


def test_wrong_types_in_a_config_file_are_errors_naming_the_option():
    with pytest.raises(ConfigError, match="--samples must be a whole number, got '4'"):
        EvolveConfig(task="t", samples="4").validate()
    with pytest.raises(ConfigError, match="--llm-critic must be true or false"):
        EvolveConfig(task="t", llm_critic=1).validate()


def test_config_round_trips_and_an_unknown_key_is_an_error_that_names_it():
    config = EvolveConfig(task="t", samples=7, halving_min_fraction=0.25)
    assert EvolveConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="run/config.json: unknown setting sampels; known settings: .*samples"):
        EvolveConfig.from_dict({**config.to_dict(), "sampels": 3}, where="run/config.json")
    assert EvolveConfig.from_dict({**config.to_dict(), "extra": {}}) == config  # written by release 0.1.0


def test_resume_may_change_only_resumable_settings():
    config = EvolveConfig(task="t", iterations=3)
    assert config.resumed_with({"iterations": 5, "workers": 1}).iterations == 5
    with pytest.raises(ConfigError, match="--samples: fixed when the run started; a resumed run may change only "
                                          "--model, --api-base, --iterations, --workers, --max-cost"):
        config.resumed_with({"samples": 2})
    with pytest.raises(ConfigError, match="below the run's 3"):
        config.resumed_with({"iterations": 2})


def test_cli_rejects_a_bad_option_and_a_damaged_config_file_cleanly(tmp_path):
    result = invoke("evolve", "--task", "mountaincar-reach", "--halving-eta", "1", "--out", tmp_path / "a")
    assert result.exit_code == 2 and "--halving-eta must be at least 2, got 1" in result.output
    assert not (tmp_path / "a").exists()  # nothing is created for a refused run

    from rewardsmith.archive.store import RunStore
    from rewardsmith.task import load_task

    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {**EvolveConfig(task=task.name).to_dict(), "warkers": 2}, task.path)
    result = invoke("evolve", "--resume", store.root)
    assert result.exit_code == 2 and "unknown setting warkers" in result.output
    assert json.loads((store.root / "config.json").read_text())["warkers"] == 2  # the run's data is untouched
