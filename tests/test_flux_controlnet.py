"""The multi-condition Flux ControlNet, the residual injection and the release dual net + converter."""

from __future__ import annotations

import pytest
import torch
from diffusers import FluxPipeline, FluxTransformer2DModel
from tiny_flux import TEXT_DIM, perturb_, tiny_transformer, xflux_state_dict

from pam.models.flux_controlnet import FluxMultiConditionControlNet, controlled_transformer_forward
from pam.models.flux_release import (
    RELEASE_TRAINED_CUES,
    FluxReleaseControlNet,
    convert_release_controlnet,
    load_release_controlnet,
)

H, W = 4, 6  # latent size (16 channels) -> 2 x 3 = 6 image tokens
INNER = 16


def transformer_inputs(batch: int = 2, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 16, H, W, generator=gen)
    return dict(
        hidden_states=FluxPipeline._pack_latents(latents, batch, 16, H, W),
        timestep=torch.full((batch,), 0.7),
        guidance=torch.full((batch,), 4.0),
        pooled_projections=torch.randn(batch, TEXT_DIM, generator=gen),
        encoder_hidden_states=torch.randn(batch, 5, TEXT_DIM, generator=gen),
        txt_ids=torch.zeros(5, 3),
        img_ids=FluxPipeline._prepare_latent_image_ids(batch, H // 2, W // 2, "cpu", torch.float32),
    )


def cue_latents(batch: int = 2, seed: int = 3, names=("depth", "seg", "hand")) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.randn(batch, 16, H, W, generator=gen) for name in names}


@pytest.fixture(scope="module")
def transformer() -> FluxTransformer2DModel:
    return tiny_transformer()


def run(transformer, controlnet, cond, **kw) -> torch.Tensor:
    with torch.no_grad():
        return controlled_transformer_forward(transformer, controlnet, controlnet_cond=cond, **transformer_inputs(), **kw)


def base_output(transformer) -> torch.Tensor:
    with torch.no_grad():
        return transformer(**transformer_inputs(), return_dict=False)[0]


# ------------------------------------------------------------------------------ paper design


def test_config_carries_condition_width(transformer):
    net = FluxMultiConditionControlNet.from_transformer(transformer)
    assert net.config.conditioning_channels == 48 and net.cue_names == ("depth", "seg", "hand")
    assert net.controlnet_x_embedder.in_features == 192
    assert len(net.transformer_blocks) == 2 and len(net.single_transformer_blocks) == 0
    # copies of the base's first two double blocks and its embedders
    for mine, theirs in zip(net.transformer_blocks, transformer.transformer_blocks[:2]):
        for (k, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), k
    assert torch.equal(net.x_embedder.weight, transformer.x_embedder.weight)
    # zero-initialised cue input and output projections
    zero = [net.controlnet_x_embedder, *net.controlnet_blocks]
    assert all(torch.count_nonzero(p) == 0 for layer in zero for p in layer.parameters())


@pytest.mark.parametrize("mapping", ["repeat", "paper", "interval"])
def test_zero_initialised_controlnet_leaves_output_bit_identical(transformer, mapping):
    net = FluxMultiConditionControlNet.from_transformer(transformer, residual_mapping=mapping)
    out = run(transformer, net, net.pack_condition(cue_latents()))
    assert torch.equal(out, base_output(transformer))


def test_perturbed_controlnet_changes_output_and_reads_every_cue(transformer):
    net = perturb_(FluxMultiConditionControlNet.from_transformer(transformer))
    cues = cue_latents()
    out = run(transformer, net, net.pack_condition(cues))
    assert not torch.allclose(out, base_output(transformer), atol=1e-4)
    for name in cues:
        changed = dict(cues, **{name: cues[name] + 1.0})
        assert not torch.allclose(run(transformer, net, net.pack_condition(changed)), out, atol=1e-5), name
    # scale 0 turns the residuals off exactly
    assert torch.equal(run(transformer, net, net.pack_condition(cues), conditioning_scale=0.0), base_output(transformer))


@pytest.mark.parametrize(
    "mapping, expected", [("repeat", [0, 1, 0]), ("paper", [0, 1, None]), ("interval", [0, 0, 1])]
)
def test_residual_block_mapping(transformer, mapping, expected):
    """After base double block i the base adds residual i % 2 ("repeat", the release), residual i for the
    copied blocks only ("paper", Eq. 2: blocks 0 and 1, nothing after block 2) or i // ceil(3/2)."""
    net = perturb_(FluxMultiConditionControlNet.from_transformer(transformer, residual_mapping=mapping))
    cond = net.pack_condition(cue_latents())
    with torch.no_grad():
        residuals, _ = net(controlnet_cond=cond, return_dict=False, **transformer_inputs())
    outputs, inputs = {}, {}
    hooks = []
    for i, block in enumerate(transformer.transformer_blocks):
        hooks.append(block.register_forward_hook(lambda m, a, kw, out, i=i: outputs.__setitem__(i, out[1]), with_kwargs=True))
        hooks.append(block.register_forward_pre_hook(lambda m, a, kw, i=i: inputs.__setitem__(i, kw["hidden_states"]), with_kwargs=True))
    hooks.append(
        transformer.single_transformer_blocks[0].register_forward_pre_hook(
            lambda m, a, kw: inputs.__setitem__(3, kw["hidden_states"]), with_kwargs=True
        )
    )
    try:
        run(transformer, net, cond)
    finally:
        for hook in hooks:
            hook.remove()
    for i, k in enumerate(expected):
        if k is None:
            assert torch.equal(inputs[i + 1], outputs[i])  # untouched
        else:
            torch.testing.assert_close(inputs[i + 1] - outputs[i], residuals[k], rtol=1e-5, atol=1e-5)


def test_trained_cues_are_recorded_and_checked(transformer, tmp_path):
    net = FluxMultiConditionControlNet.from_transformer(transformer)
    assert net.trained_cue_names == net.cue_names  # trained with every slot unless told otherwise
    partial = FluxMultiConditionControlNet.from_transformer(transformer, trained_cues=("hand", "depth"))
    assert partial.trained_cue_names == ("depth", "hand")  # slot order
    partial.save_pretrained(tmp_path / "net")
    assert FluxMultiConditionControlNet.from_pretrained(tmp_path / "net").trained_cue_names == ("depth", "hand")
    with pytest.raises(ValueError, match="trained_cues must be a non-empty subset"):
        FluxMultiConditionControlNet.from_transformer(transformer, trained_cues=("normal",))


def test_save_load_round_trip_is_exact(transformer, tmp_path):
    net = perturb_(FluxMultiConditionControlNet.from_transformer(transformer, cues=("depth", "hand")))
    net.save_pretrained(tmp_path)
    loaded = FluxMultiConditionControlNet.from_pretrained(tmp_path)
    assert loaded.config.conditioning_channels == 32 and loaded.cue_names == ("depth", "hand")
    a, b = net.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cues = cue_latents(names=("depth", "hand"))
    assert torch.equal(run(transformer, net, net.pack_condition(cues)), run(transformer, loaded, loaded.pack_condition(cues)))


def test_pack_condition_rejects_wrong_cues(transformer):
    net = FluxMultiConditionControlNet.from_transformer(transformer)
    with pytest.raises(ValueError, match="unknown: \\['normal'\\]"):
        net.pack_condition(dict(cue_latents(), normal=torch.zeros(2, 16, H, W)))
    with pytest.raises(ValueError, match="missing: \\['hand'\\]"):
        net.pack_condition(cue_latents(names=("depth", "seg")))
    with pytest.raises(ValueError, match="cue latent 'seg'"):
        net.pack_condition(dict(cue_latents(), seg=torch.zeros(2, 16, H, W + 2)))
    with pytest.raises(ValueError, match="multiple"):
        FluxMultiConditionControlNet(cues=("depth", "seg"), conditioning_channels=33)


def test_full_size_parameter_counts_on_meta_device():
    """FLUX.1-dev's transformer and our ControlNet built on `meta`: counts without allocating memory."""
    flux = dict(
        in_channels=64, attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
        pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56),
    )
    with torch.device("meta"):
        base = FluxTransformer2DModel(patch_size=1, num_layers=19, num_single_layers=38, **flux)
        net = FluxMultiConditionControlNet(num_layers=2, num_single_layers=0, **flux)
        release = FluxReleaseControlNet(num_layers=2, **flux)
    assert all(p.is_meta for m in (base, net, release) for p in m.parameters())

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    d = 3072
    double_block = count(base.transformer_blocks[0])
    embedders = count(base.x_embedder) + count(base.time_text_embed) + count(base.context_embedder)
    # the ControlNet = the base's embedders + 2 double blocks + zero linears (192 -> d, 2 x d -> d)
    assert count(net) == embedders + 2 * double_block + (192 * d + d) + 2 * (d * d + d)
    hint = count(release.controlnet1.input_hint_block)
    assert hint == 6 * 16 * 9 + 16 + 7 * (16 * 16 * 9 + 16)  # conv_in + 6 inner convs + conv_out
    assert count(release) == 2 * (embedders + 2 * double_block + (64 * d + d) + 2 * (d * d + d) + hint)
    print(f"\nFLUX.1-dev transformer: {count(base):,} parameters; multi-condition ControlNet: {count(net):,}; "
          f"release dual ControlNet: {count(release):,}")
    assert count(base) == 11_901_408_320


# ------------------------------------------------------------------------------ release variant


def test_convert_release_controlnet_places_every_tensor(transformer, tmp_path):
    release = xflux_state_dict(hidden=INNER, heads=2, txt=TEXT_DIM, vec=TEXT_DIM)
    converted = convert_release_controlnet({"module." + k: v for k, v in release.items()})
    model = FluxReleaseControlNet.from_transformer(transformer)
    model.load_state_dict(converted, strict=True)  # every name and shape fits, nothing left over
    q, k, v = release["controlnet2.double_blocks.1.txt_attn.qkv.weight"].chunk(3)
    attn = model.controlnet2.transformer_blocks[1].attn
    assert torch.equal(attn.add_q_proj.weight, q) and torch.equal(attn.add_k_proj.weight, k) and torch.equal(attn.add_v_proj.weight, v)
    assert torch.equal(model.controlnet1.input_hint_block.blocks[1].weight, release["controlnet1.input_hint_block.4.weight"])
    assert model.controlnet1.input_hint_block.blocks[1].stride == (2, 2)  # x-flux index 4 is a stride-2 conv
    assert torch.equal(model.controlnet1.input_hint_block.conv_out.bias, release["controlnet1.input_hint_block.14.bias"])
    assert torch.equal(model.controlnet2.controlnet_x_embedder.weight, release["controlnet2.pos_embed_input.weight"])
    assert torch.equal(
        model.controlnet1.time_text_embed.guidance_embedder.linear_2.weight, release["controlnet1.guidance_in.out_layer.weight"]
    )
    assert torch.equal(
        model.controlnet1.transformer_blocks[0].attn.norm_added_k.weight,
        release["controlnet1.double_blocks.0.txt_attn.norm.key_norm.scale"],
    )

    path = tmp_path / "controlnet.bin"
    torch.save(release, path)
    loaded = load_release_controlnet(path, transformer.config)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    # the release trained without normal (always -1): the loaded checkpoint says so
    assert loaded.cue_names == ("depth", "normal", "hand", "seg")
    assert loaded.trained_cue_names == ("depth", "hand", "seg") and set(RELEASE_TRAINED_CUES) == {"depth", "seg", "hand"}
    with pytest.raises(ValueError, match="unexpected keys"):
        convert_release_controlnet({"controlnet1.final_layer.linear.weight": torch.zeros(1)})
    torch.save({k: v for k, v in release.items() if "txt_mlp" not in k}, path)
    with pytest.raises(ValueError, match="not a PAM release ControlNet"):
        load_release_controlnet(path, transformer.config)


def test_release_controlnet_zero_init_and_cue_groups(transformer):
    model = FluxReleaseControlNet.from_transformer(transformer)
    gen = torch.Generator().manual_seed(0)
    pixels = {name: torch.rand(2, 3, 8 * H, 8 * W, generator=gen) * 2 - 1 for name in model.cue_names}
    cond = model.pack_condition(pixels)
    assert [c.shape[1] for c in cond] == [6, 6]
    assert torch.equal(cond[1][:, 3:], pixels["seg"])  # net 2 = [hand | seg]
    assert torch.equal(run(transformer, model, cond), base_output(transformer))
    perturb_(model)
    out = run(transformer, model, cond)
    assert not torch.allclose(out, base_output(transformer), atol=1e-4)
    # the summed residual of two nets = each net alone (other net's scale 0) added
    alone = [run(transformer, model, cond, conditioning_scale=s) for s in ([1.0, 0.0], [0.0, 1.0])]
    with torch.no_grad():
        res = [model(controlnet_cond=cond, conditioning_scale=s, return_dict=False, **transformer_inputs())[0]
               for s in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0])]
    for a, b, both in zip(*res):
        torch.testing.assert_close(a + b, both)
    assert not torch.allclose(alone[0], alone[1], atol=1e-5)
    model.enable_gradient_checkpointing()  # for training: reaches both nets
    assert all(net.gradient_checkpointing for net in model.nets)


def bfl_single_block_and_final_layer(inner: int = 3072) -> dict:
    """The BFL entries diffusers' converter needs besides the double blocks (it assumes FLUX.1's width 3072
    to split a single block's fused linear1); values are irrelevant here, shapes are (rows, 1)."""
    rows = {"linear1": 7 * inner, "linear2": inner, "modulation.lin": 3 * inner}
    entries = {f"single_blocks.0.{name}.{p}": torch.zeros(n, 1) if p == "weight" else torch.zeros(n)
               for name, n in rows.items() for p in ("weight", "bias")}
    entries |= {"single_blocks.0.norm.query_norm.scale": torch.zeros(1), "single_blocks.0.norm.key_norm.scale": torch.zeros(1)}
    entries |= {"final_layer.linear.weight": torch.zeros(1, 1), "final_layer.linear.bias": torch.zeros(1),
                "final_layer.adaLN_modulation.1.weight": torch.zeros(2, 1), "final_layer.adaLN_modulation.1.bias": torch.zeros(2)}
    return entries


def test_release_converter_agrees_with_diffusers_bfl_converter():
    """Oracle: diffusers' own original(BFL)-to-diffusers Flux conversion, on the entries a ControlNet shares
    with a Flux transformer (embedders, double blocks). Every such tensor must land on the same name with the
    same values (a swapped image/text MLP, a wrong qkv order or a wrong embedder would all differ)."""
    from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

    release = xflux_state_dict(hidden=INNER, heads=2, txt=TEXT_DIM, vec=TEXT_DIM, seed=5)
    ours = convert_release_controlnet(release)
    controlnet_only = ("controlnet_x_embedder.", "input_hint_block.", "controlnet_blocks.")  # diffusers names
    xflux_controlnet_only = ("pos_embed_input.", "input_hint_block.", "controlnet_blocks.")  # their x-flux names
    for k in (1, 2):
        prefix = f"controlnet{k}."
        shared = {key[len(prefix):]: value.clone() for key, value in release.items()
                  if key.startswith(prefix) and not key[len(prefix):].startswith(xflux_controlnet_only)}
        oracle = convert_flux_transformer_checkpoint_to_diffusers({**shared, **bfl_single_block_and_final_layer()})
        oracle = {key: value for key, value in oracle.items() if not key.startswith(("single_transformer_blocks.", "proj_out.", "norm_out."))}
        mine = {key[len(prefix):]: value for key, value in ours.items()
                if key.startswith(prefix) and not key[len(prefix):].startswith(controlnet_only)}
        assert sorted(mine) == sorted(oracle)
        for key, value in oracle.items():
            assert torch.equal(mine[key], value), key
