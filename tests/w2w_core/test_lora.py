import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.generate import applied_lora, generate_images
from w2w_core.lora.adapter import attach_lora, layout_for, lora_state_dict
from w2w_core.lora.files import export_lora_file, import_lora_file
from w2w_core.lora.layout import LoraLayout, LoraSpec
from w2w_core.lora.vectors import flatten, unflatten, weight_deltas


def test_default_layout_is_rank_one_on_q_and_v_of_self_and_cross_attention(untrained_base):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(), "m", "h")
    modules = {key.rsplit(".lora_", 1)[0] for key in layout.keys}
    assert {m.rsplit(".", 2)[-2] for m in modules} == {"attn1", "attn2"}
    assert {m.rsplit(".", 1)[-1] for m in modules} == {"to_q", "to_v"}
    assert all(min(shape) == 1 for shape in layout.shapes)
    assert layout.n_params == sum(int(np.prod(s)) for s in layout.shapes)


def test_flatten_unflatten_round_trip_is_exact(untrained_base):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(), "m", "h")
    vector = np.random.default_rng(1).normal(size=layout.n_params).astype(np.float32)
    assert np.array_equal(flatten(unflatten(vector, layout), layout), vector)


def test_shared_init_gives_identical_starting_vectors(untrained_base):
    unet = untrained_base.pipe.unet

    def initial_vector(init_seed: int) -> np.ndarray:
        layout = attach_lora(unet, LoraSpec(init_seed=init_seed), "m", "h")
        return flatten(lora_state_dict(unet), layout)

    first = initial_vector(3)
    torch.manual_seed(999)  # the global RNG state must not matter
    second, other = initial_vector(3), initial_vector(4)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_layout_json_round_trip(untrained_base):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(rank=2, alpha=4.0), "m", "h")
    assert LoraLayout.from_json(layout.to_json()) == layout
    assert layout.to_dict()["n_params"] == layout.n_params


def test_unknown_target_module_is_named(untrained_base):
    with pytest.raises(InputError, match="to_zz"):
        attach_lora(untrained_base.pipe.unet, LoraSpec(target_modules=("to_q", "to_zz")), "m", "h")


def test_wrong_vector_length_and_nan_are_refused(untrained_base):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(), "m", "h")
    with pytest.raises(LayoutMismatchError, match=str(layout.n_params)):
        unflatten(np.zeros(layout.n_params + 1, np.float32), layout)
    with pytest.raises(InputError, match="NaN"):
        unflatten(np.full(layout.n_params, np.nan, np.float32), layout)


def test_export_import_round_trip_and_mismatch(untrained_base, tmp_path):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(), "m", "h")
    vector = np.random.default_rng(2).normal(size=layout.n_params).astype(np.float32)
    path = export_lora_file(vector, layout, tmp_path / "a.safetensors")
    assert np.array_equal(import_lora_file(path, layout), vector)
    rank2 = attach_lora(untrained_base.pipe.unet, LoraSpec(rank=2), "m", "h")
    with pytest.raises(LayoutMismatchError, match="shape"):
        import_lora_file(path, rank2)
    only_q = attach_lora(untrained_base.pipe.unet, LoraSpec(target_modules=("to_q",)), "m", "h")
    with pytest.raises(LayoutMismatchError, match="unexpected"):
        import_lora_file(path, only_q)
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable"):
        import_lora_file(tmp_path / "bad.safetensors", layout)
    save_file({"unet.x.lora_A.weight": torch.zeros(1, 2)}, tmp_path / "alien.safetensors")
    with pytest.raises(LayoutMismatchError, match="missing"):
        import_lora_file(tmp_path / "alien.safetensors", layout)


def test_exported_file_loads_in_diffusers_and_gives_the_same_images(untrained_base, tmp_path):
    base = untrained_base
    layout = attach_lora(base.pipe.unet, LoraSpec(), base.model_id, base.model_hash)
    base.pipe.unet.delete_adapters("w2w")
    vector = np.random.default_rng(3).normal(scale=0.5, size=layout.n_params).astype(np.float32)
    plain = generate_images(base, "a photo of sks person", 2, seed=5, steps=4)
    with applied_lora(base, vector, layout):
        in_memory = generate_images(base, "a photo of sks person", 2, seed=5, steps=4)
    base.pipe.load_lora_weights(str(export_lora_file(vector, layout, tmp_path / "l.safetensors")))
    from_file = generate_images(base, "a photo of sks person", 2, seed=5, steps=4)
    base.pipe.unload_lora_weights()
    assert np.array_equal(in_memory, from_file)
    assert np.abs(in_memory.astype(int) - plain).max() > 10  # the adapter did change the images
    assert np.array_equal(generate_images(base, "a photo of sks person", 2, seed=5, steps=4), plain)


def test_lora_from_another_base_model_is_refused(untrained_base):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(), "other/model", "ffff")
    untrained_base.pipe.unet.delete_adapters("w2w")
    with pytest.raises(LayoutMismatchError, match="other/model"), \
            applied_lora(untrained_base, np.zeros(layout.n_params, np.float32), layout):
        pass


def _unet_state(unet) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in unet.state_dict().items()}


@pytest.mark.parametrize("spec", [LoraSpec(), LoraSpec(rank=2, target_modules=("to_k", "to_out.0"))])
def test_layout_for_equals_the_attached_adapters_layout_and_leaves_the_unet_alone(untrained_base, spec):
    unet = untrained_base.pipe.unet
    before = _unet_state(unet)
    computed = layout_for(unet, spec, "m", "h")
    assert _unet_state(unet) == before and not getattr(unet, "peft_config", {})
    attached = attach_lora(unet, spec, "m", "h")
    assert computed == attached
    assert layout_for(unet, spec, "m", "h") == attached  # also while an adapter is attached
    unet.delete_adapters("w2w")


def test_layout_for_an_sd15_shaped_unet_equals_peft(tmp_path):
    from diffusers import UNet2DConditionModel

    from tests.w2w_core.sd15_layout import write_sd15_layout_folder

    unet = UNet2DConditionModel.from_pretrained(write_sd15_layout_folder(tmp_path / "sd15") / "unet")
    computed = layout_for(unet, LoraSpec(), "sd15", "h")
    assert computed == attach_lora(unet, LoraSpec(), "sd15", "h")
    assert len(computed.keys) == 2 * 2 * 2 * 16  # 16 transformer blocks x attn1/attn2 x to_q/to_v x A/B


def test_kohya_file_round_trips_and_diffusers_reads_it_to_the_same_weights(untrained_base, tmp_path):
    from w2w_core.lora.files import export_kohya_file

    base = untrained_base
    layout = attach_lora(base.pipe.unet, LoraSpec(), base.model_id, base.model_hash)
    base.pipe.unet.delete_adapters("w2w")
    vector = np.random.default_rng(5).normal(scale=0.5, size=layout.n_params).astype(np.float32)
    path = export_kohya_file(vector, layout, tmp_path / "k.safetensors")
    assert np.array_equal(import_lora_file(path, layout), vector)
    with applied_lora(base, vector, layout):
        in_memory = generate_images(base, "a photo of sks person", 2, seed=5, steps=4)
    base.pipe.load_lora_weights(str(path))  # diffusers converts kohya names and applies alpha / rank
    try:
        from_file = generate_images(base, "a photo of sks person", 2, seed=5, steps=4)
    finally:
        base.pipe.unload_lora_weights()
    assert np.array_equal(in_memory, from_file)


def test_a_lora_file_of_another_base_model_is_refused_by_name(untrained_base, tmp_path):
    layout = attach_lora(untrained_base.pipe.unet, LoraSpec(), "other/model", "ffff")
    untrained_base.pipe.unet.delete_adapters("w2w")
    path = export_lora_file(np.zeros(layout.n_params, np.float32), layout, tmp_path / "o.safetensors")
    mine = LoraLayout(layout.keys, layout.shapes, layout.spec, untrained_base.model_id, untrained_base.model_hash)
    with pytest.raises(LayoutMismatchError, match="was trained on other/model"):
        import_lora_file(path, mine)


def test_written_files_follow_the_umask(tmp_path):
    import os

    from w2w_core.files import write_atomic

    layout = LoraLayout(("a.to_q.lora_A.weight", "a.to_q.lora_B.weight"), ((1, 4), (4, 1)), LoraSpec(), "m", "h")
    old = os.umask(0o027)
    try:
        lora = export_lora_file(np.ones(8, np.float32), layout, tmp_path / "l.safetensors")
        report = write_atomic(tmp_path / "r.json", b"{}")
    finally:
        os.umask(old)
    assert (lora.stat().st_mode & 0o777) == (report.stat().st_mode & 0o777) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def _two_layer_layout() -> LoraLayout:
    keys = ("a.lora_A.weight", "a.lora_B.weight", "b.lora_A.weight", "b.lora_B.weight")
    return LoraLayout(keys, ((2, 3), (4, 2), (2, 5), (3, 2)), LoraSpec(rank=2, alpha=4.0), "m", "h")


def test_weight_deltas_are_scale_times_b_a_per_layer():
    layout = _two_layer_layout()
    vector = np.random.default_rng(2).normal(size=layout.n_params).astype(np.float32)
    t = {k: v.numpy() for k, v in unflatten(vector, layout).items()}
    expected = np.concatenate([2.0 * (t["a.lora_B.weight"] @ t["a.lora_A.weight"]).ravel(),
                               2.0 * (t["b.lora_B.weight"] @ t["b.lora_A.weight"]).ravel()])
    np.testing.assert_allclose(weight_deltas(vector, layout), expected, rtol=1e-6)


def test_weight_deltas_do_not_see_how_the_factors_are_scaled_or_signed():
    layout = _two_layer_layout()
    vector = np.random.default_rng(3).normal(size=layout.n_params).astype(np.float32)
    tensors = unflatten(vector, layout)
    rescaled = {k: v * (-3.0 if "lora_A" in k else -1 / 3.0) for k, v in tensors.items()}
    other = flatten(rescaled, layout)
    assert np.linalg.norm(other - vector) > np.linalg.norm(vector)  # far apart as θ
    np.testing.assert_allclose(weight_deltas(other, layout), weight_deltas(vector, layout), rtol=1e-5, atol=1e-6)


def test_a_lora_of_another_base_model_names_the_tensor_whose_shape_differs(tmp_path):
    """Another tool's LoRA of another base model: no w2w metadata, half the tensors, one of them wider. The
    missing count alone would hide why; the message names the tensor and both shapes."""
    from safetensors.numpy import save_file as save_numpy

    from w2w_core.lora.files import check_lora_file

    keys = ("a.to_q.lora_A.weight", "a.to_q.lora_B.weight", "b.to_v.lora_A.weight", "b.to_v.lora_B.weight")
    layout = LoraLayout(keys, ((1, 32), (32, 1), (1, 64), (64, 1)), LoraSpec(), "mine", "hash")
    save_numpy({"unet.a.to_q.lora_A.weight": np.zeros((1, 48), np.float32),
                "unet.a.to_q.lora_B.weight": np.zeros((32, 1), np.float32)}, tmp_path / "alien.safetensors")
    with pytest.raises(LayoutMismatchError, match=r"another base model or rank: tensor a\.to_q\.lora_A\.weight has "
                                                  r"shape \(1, 48\), this base model's layout expects \(1, 32\) "
                                                  r"\(1 tensor\(s\) of other shapes, 2 missing\)"):
        check_lora_file(tmp_path / "alien.safetensors", layout)
    with pytest.raises(LayoutMismatchError, match="another base model or rank"):
        import_lora_file(tmp_path / "alien.safetensors", layout)


def test_a_lora_file_is_checked_from_its_header_without_torch(tmp_path):
    """`w2w edit` checks a LoRA file before torch loads: reading its header must not import torch."""
    import subprocess
    import sys

    from safetensors.numpy import save_file as save_numpy

    save_numpy({"unet.a.to_q.lora_A.weight": np.zeros((1, 32), np.float32)}, tmp_path / "one.safetensors")
    code = ("import sys; from w2w_core.lora.files import read_lora_header; "
            f"print(read_lora_header({str(tmp_path / 'one.safetensors')!r})[1], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["{'unet.a.to_q.lora_A.weight':", "(1,", "32)}", "False"]
