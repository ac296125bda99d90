"""What `w2w run`'s header says came from the zoo and what the run trained."""
import numpy as np
import pytest

from tasks.config import ReportConfig, RunConfig
from tasks.dataset import trained_prefix
from tasks.run import run_header, zoo_models
from tests.storage.space_stores import write_store
from w2w_core.errors import InputError


def _header(config: RunConfig, zoo: tuple[int, int]) -> dict:
    built = {"trained_rows": [], "done": 0}
    return run_header(config, zoo, built, {"k": 1, "explained_variance": 1.0}, {"m": 1}, {}, 0)


def test_rows_of_a_growing_zoo_past_its_prefix_count_as_the_zoos(tmp_path):
    done = np.zeros(40, bool)
    done[:8] = done[16:24] = True  # a zoo being built: a trained prefix of 8, a later chunk already done
    write_store(str(tmp_path / "zoo"), np.ones((40, 3), np.float32), done, rows_per_chunk=8)
    prefix = trained_prefix(str(tmp_path / "zoo"))
    config = RunConfig(n_identities=24)
    zoo = zoo_models(str(tmp_path / "zoo"), list(range(prefix, prefix + config.n_identities)))
    assert prefix == 8 and zoo == (16, 8)
    header = _header(config, zoo)
    assert header["zoo_identities"] == 16 and header["identities_trained_by_this_run"] == 16


def test_without_a_zoo_every_run_row_is_the_runs(tmp_path):
    assert zoo_models(str(tmp_path / "no-zoo"), list(range(8))) == (0, 0)
    assert _header(RunConfig(n_identities=8), (0, 0))["identities_trained_by_this_run"] == 8


def test_a_report_sampler_that_does_not_exist_is_refused_before_anything_runs():
    assert ReportConfig().sample_methods == ("attributes", "gaussian", "mix")
    for methods in (("gaussian", "uniform"), ()):
        with pytest.raises(InputError, match="sample_methods must be one or more of gaussian, attributes, mix"):
            ReportConfig(sample_methods=methods)


def test_the_default_sampler_is_attributes_at_contrast_3_and_each_method_has_its_own_contrast():
    from tasks.config import SampleConfig

    assert SampleConfig().method == "attributes" and SampleConfig().label_contrast == 3.0
    assert SampleConfig(method="mix").label_contrast == 1.0
    assert SampleConfig(method="mix", contrast=2).label_contrast == 2
