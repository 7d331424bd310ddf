"""Stage III ControlNet: zero-init identity, cue sensitivity, save/load, release conversion, masking, loss."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from tiny_cogvideox import FULL_TRANSFORMER, inputs, rotary, scheduler, tiny_transformer

from pam.models.cogvideox_control import ControlledTransformer
from pam.models.cogvideox_controlnet import DEFAULT_CUES, RELEASE_CUES, CogVideoXControlNet
from pam.models.cogvideox_release import (
    controlnet_from_release,
    join_release_state_dict,
    load_release,
    split_release_state_dict,
)
from pam.training.cue_masking import mask_cues
from pam.training.motion_loss import motion_loss
from optim_steps import optimizer_steps


def perturbed(controlnet: CogVideoXControlNet, seed: int = 0, std: float = 0.2) -> CogVideoXControlNet:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in controlnet.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return controlnet


def run(base, controlnet, x, **kw):
    with ControlledTransformer(base, controlnet) as model:
        return call(model, x, **kw)


def call(model, x, **kw):
    return model(
        x["hidden_states"],
        x["encoder_hidden_states"],
        x["timestep"],
        x["cue_latents"],
        image_rotary_emb=rotary(),
        **kw,
    )


@pytest.fixture(scope="module")
def base() -> CogVideoXTransformer3DModel:
    return tiny_transformer()


def test_zero_initialised_controlnet_is_bit_identical_to_base(base):
    controlnet = CogVideoXControlNet.from_transformer(base, num_layers=2)
    x = inputs()
    with torch.no_grad():
        expected = base(
            x["hidden_states"], x["encoder_hidden_states"], x["timestep"], image_rotary_emb=rotary(), return_dict=False
        )[0]
        got = run(base, controlnet, x)
    assert torch.equal(got, expected)
    for copy, block in zip(controlnet.transformer_blocks, base.transformer_blocks):  # copies, not shared
        for (name, a), b in zip(copy.state_dict().items(), block.state_dict().values()):
            assert torch.equal(a, b) and a.data_ptr() != b.data_ptr(), name


def test_each_cue_changes_output_and_masked_cue_equals_zero_latent(base):
    controlnet = perturbed(CogVideoXControlNet.from_transformer(base, num_layers=2))
    x = inputs()
    with torch.no_grad():
        reference = run(base, controlnet, x)
        for k, name in enumerate(DEFAULT_CUES):
            changed = dict(x, cue_latents=x["cue_latents"].clone())
            changed["cue_latents"][:, k] += 1.0
            assert not torch.allclose(run(base, controlnet, changed), reference, atol=1e-4), name

            zeroed = dict(x, cue_latents=x["cue_latents"].clone())
            zeroed["cue_latents"][:, k] = 0
            drop = [1.0 if j == k else 0.0 for j in range(len(DEFAULT_CUES))]
            image_latents = x["hidden_states"][:, :, 4:]
            masked = mask_cues(x["cue_latents"], image_latents, cue_drop_prob=drop, first_frame_drop_prob=0.0)
            assert torch.equal(masked.cue_latents, zeroed["cue_latents"])
            out_masked = run(base, controlnet, dict(x, cue_latents=masked.cue_latents))
            assert torch.equal(out_masked, run(base, controlnet, zeroed))


def test_conditioning_scale_zero_and_hooks_removed(base):
    controlnet = perturbed(CogVideoXControlNet.from_transformer(base, num_layers=1))
    x = inputs()
    with torch.no_grad():
        plain = base(
            x["hidden_states"], x["encoder_hidden_states"], x["timestep"], image_rotary_emb=rotary(), return_dict=False
        )[0]
        assert torch.equal(run(base, controlnet, x, conditioning_scale=0.0), plain)
        assert not torch.allclose(run(base, controlnet, x), plain, atol=1e-4)
    # hooks are removed after the call
    assert not base.patch_embed._forward_hooks and not base.transformer_blocks[0]._forward_hooks


def test_input_checks(base):
    controlnet = CogVideoXControlNet.from_transformer(base, num_layers=1)
    x = inputs()
    args = (x["hidden_states"], x["encoder_hidden_states"], x["timestep"], x["cue_latents"])
    with ControlledTransformer(base, controlnet) as model:
        with pytest.raises(ValueError, match="rotary"):
            model(*args)
        short_text = x["encoder_hidden_states"][:, :5]
        with pytest.raises(ValueError, match="max_text_seq_length"):
            model(args[0], short_text, *args[2:], image_rotary_emb=rotary())
        with pytest.raises(ValueError, match="cue_latents"):
            model(*args[:3], x["cue_latents"][:, :2], image_rotary_emb=rotary())
        with pytest.raises(RuntimeError, match="called directly"):
            base(*args[:3], image_rotary_emb=rotary())
    with pytest.raises(RuntimeError, match="removed"):
        call(model, x)
    with pytest.raises(ValueError, match="num_layers"):
        CogVideoXControlNet.from_transformer(base, num_layers=4)


def test_save_load_round_trip_is_exact(base, tmp_path):
    controlnet = perturbed(CogVideoXControlNet.from_transformer(base, num_layers=2, cues=("hand", "depth")))
    controlnet.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = CogVideoXControlNet.from_pretrained(tmp_path)
    assert loaded.cue_names == ("hand", "depth") and loaded.config.num_layers == 2
    original, restored = controlnet.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)


def synthetic_release_state_dict(base: CogVideoXTransformer3DModel, copies: int, seed: int = 3) -> dict:
    """A state dict with the release's key names and shapes (base keys + copies + combine linears)."""
    g = torch.Generator().manual_seed(seed)
    dim = base.config.num_attention_heads * base.config.attention_head_dim
    state = {k: v.clone() for k, v in base.state_dict().items()}
    for i in range(copies):
        for k, v in base.transformer_blocks[i].state_dict().items():
            state[f"transformer_blocks_copy.{i}.{k}"] = v + 0.1 * torch.randn(v.shape, generator=g)
        state[f"combine_linears.{i}.weight"] = 0.2 * torch.randn(dim, dim, generator=g)
        state[f"combine_linears.{i}.bias"] = 0.2 * torch.randn(dim, generator=g)
    state["initial_combine_linear.weight"] = 0.2 * torch.randn(dim, 5 * dim, generator=g)
    state["initial_combine_linear.bias"] = 0.2 * torch.randn(dim, generator=g)
    return state


def release_reference_forward(base, state, copies, x, cues):
    """The release's forward written out independently from its description (REFERENCE.md, Stage III)."""
    dim = base.config.num_attention_heads * base.config.attention_head_dim

    def linear(prefix, inp):
        return torch.nn.functional.linear(inp, state[prefix + ".weight"], state[prefix + ".bias"])

    blocks = []
    for i in range(copies):
        block = CogVideoXBlock(dim, 2, 16, base.config.time_embed_dim, attention_bias=True)
        prefix = f"transformer_blocks_copy.{i}."
        block.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        blocks.append(block)
    hidden, text, t, rot = x["hidden_states"], x["encoder_hidden_states"], x["timestep"], rotary()
    temb = base.time_embedding(base.time_proj(t).to(hidden.dtype))
    tokens = base.patch_embed(text, hidden)
    n_text = text.shape[1]
    enc, h = tokens[:, :n_text], tokens[:, n_text:]
    cue_tokens = torch.cat([base.patch_embed(text, c)[:, n_text:] for c in cues.unbind(1)], dim=2)
    control = linear("initial_combine_linear", h.repeat(1, 1, 5) + cue_tokens)
    for i, block in enumerate(base.transformer_blocks):
        h, enc = block(h, enc, temb, rot)
        if i < copies:
            control, _ = blocks[i](control, enc, temb, rot)
            control = linear(f"combine_linears.{i}", control)
            h = h + control
    h = base.proj_out(base.norm_out(base.norm_final(h), temb=temb))
    b, f, _, hh, ww = hidden.shape
    out = h.reshape(b, f, hh // 2, ww // 2, -1, 2, 2).permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)
    return out


def test_release_converter_round_trip_and_semantics(base, tmp_path):
    state = synthetic_release_state_dict(base, copies=2)
    base_part, control_part = split_release_state_dict(state)
    assert set(base_part) == set(base.state_dict())
    joined = join_release_state_dict(base_part, control_part)
    assert joined.keys() == state.keys() and all(torch.equal(joined[k], state[k]) for k in state)

    controlnet, _ = controlnet_from_release(state, dict(base.config))
    assert controlnet.cue_names == RELEASE_CUES and controlnet.config.num_layers == 2
    assert controlnet.trained_cue_names == ("depth", "seg", "hand")  # the release's used_conditions
    exported = join_release_state_dict(base_part, controlnet.state_dict())
    assert all(torch.equal(exported[k], state[k]) for k in state)

    x = inputs(slots=5)
    with torch.no_grad():
        ours = run(base, controlnet, x)
        theirs = release_reference_forward(base, state, 2, x, x["cue_latents"])
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)

    from safetensors.torch import save_file

    save_file(state, tmp_path / "model.safetensors")
    fresh = tiny_transformer(seed=9)
    loaded = load_release(tmp_path, fresh)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in base_part.items())
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in controlnet.state_dict().items())
    with pytest.raises(ValueError, match="no ControlNet weights"):
        split_release_state_dict(base.state_dict())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="x.safetensors"):
        load_release(tmp_path / "bad", fresh)


def test_full_size_parameter_counts_on_meta_device():
    """CogVideoX-5b-I2V + 12 copied blocks, built on the meta device (no memory)."""
    with torch.device("meta"):
        base = CogVideoXTransformer3DModel(**FULL_TRANSFORMER)
    release = CogVideoXControlNet.from_transformer(base, 12, RELEASE_CUES)
    paper = CogVideoXControlNet.from_transformer(base, 12)
    assert all(p.is_meta for p in release.parameters())

    def count(module):
        return sum(p.numel() for p in module.parameters())

    dim = 3072
    block = count(base.transformer_blocks[0])
    assert count(base) == 5_570_479_680  # CogVideoX-5b-I2V: 5.57 B
    assert block == 132_197_632
    assert count(release) == 12 * block + 12 * (dim * dim + dim) + 5 * dim * dim + dim == 1_746_843_648
    assert count(paper) == 12 * block + 12 * (dim * dim + dim) + 3 * dim * dim + dim == 1_727_969_280
    assert math.isclose(count(release) / 1e9, 1.75, abs_tol=0.01)  # "about 1.75 B" trainable in the release


def test_gradient_checkpointing_keeps_output_and_gradients():
    x = inputs()

    def grads(checkpointing: bool):
        model = tiny_transformer()
        controlnet = perturbed(CogVideoXControlNet.from_transformer(model, num_layers=2))
        model.requires_grad_(False)  # the base frozen, the new ControlNet trainable
        if checkpointing:
            model.enable_gradient_checkpointing()
            controlnet.enable_gradient_checkpointing()
        with ControlledTransformer(model, controlnet) as controlled:  # attached through backward
            out = call(controlled, x)
            out.square().mean().backward()
        assert all(p.grad is None for p in model.parameters())
        return out.detach(), [p.grad.clone() for p in controlnet.parameters()]

    out_a, grads_a = grads(False)
    out_b, grads_b = grads(True)
    torch.testing.assert_close(out_a, out_b)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in grads_a)


def binomial_bounds(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    half = sigmas * math.sqrt(n * p * (1 - p))
    return n * p - half, n * p + half


def test_cue_masking_statistics_and_structure():
    batch, slots = 20_000, 3
    cues = torch.ones(batch, slots, 1, 4, 1, 1)
    image = torch.ones(batch, 1, 2, 1, 1)
    masked = mask_cues(cues, image, torch.Generator().manual_seed(0))
    dropped = (~masked.cue_kept).sum(dim=0)
    lo, hi = binomial_bounds(batch, 0.2)
    assert all(lo <= d <= hi for d in dropped.tolist()), dropped
    lo, hi = binomial_bounds(batch, 0.05)
    assert lo <= (~masked.first_frame_kept).sum() <= hi
    # independent slots: both of slots 0 and 1 dropped about 0.04 of the time
    lo, hi = binomial_bounds(batch, 0.04)
    assert lo <= (~masked.cue_kept[:, 0] & ~masked.cue_kept[:, 1]).sum() <= hi
    # structure: a dropped slot is all zero; a first-frame drop zeroes the image latents and cue channels 2..3
    expected_video = masked.cue_kept.float()[:, :, None]
    expected_first = expected_video * masked.first_frame_kept.float()[:, None, None]
    assert torch.equal(masked.cue_latents[:, :, 0, :2, 0, 0], expected_video.expand(-1, -1, 2))
    assert torch.equal(masked.cue_latents[:, :, 0, 2:, 0, 0], expected_first.expand(-1, -1, 2))
    assert torch.equal(masked.image_latents[:, 0, 0, 0, 0], masked.first_frame_kept.float())
    # seedable
    again = mask_cues(cues, image, torch.Generator().manual_seed(0))
    assert torch.equal(again.cue_kept, masked.cue_kept) and torch.equal(again.first_frame_kept, masked.first_frame_kept)
    with pytest.raises(ValueError, match="do not fit"):
        mask_cues(cues, torch.ones(batch, 1, 3, 1, 1))


def training_sample(batch: int, seed: int):
    """Clean video latents, first-frame latents (zero-padded), 3 cue latents and text embeddings."""
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, 3, 4, 8, 12, generator=g)
    image = torch.cat([video[:, :1], torch.zeros_like(video[:, 1:])], dim=1)
    cues = torch.randn(batch, 3, 3, 8, 8, 12, generator=g)
    text = torch.randn(batch, 16, 32, generator=g)
    return video, image, cues, text


def test_loss_decreases_with_a_few_optimizer_steps_and_base_stays_frozen():
    model = tiny_transformer(num_layers=2)
    controlnet = CogVideoXControlNet.from_transformer(model, num_layers=1)
    model.requires_grad_(False)
    sched = scheduler()
    video, image, cues, text = training_sample(batch=1, seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=1e-3)

    controlled = ControlledTransformer(model, controlnet)

    def loss():  # one fixed sample: same timestep, noise and cue masks every time
        return motion_loss(controlled, sched, video, image, cues, text, rotary(), torch.Generator().manual_seed(11),
                           cue_dropout=True)

    losses = optimizer_steps(loss, optimizer, 8)
    with torch.no_grad():
        losses.append(loss().item())
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("sequential", [True, False])
def test_accelerate_offload_hooks_keep_the_output(sequential):
    """The hooks compose with accelerate's offload hooks (sequential: weights on meta, loaded per module)."""
    from accelerate import cpu_offload, cpu_offload_with_hook

    model = tiny_transformer()
    controlnet = perturbed(CogVideoXControlNet.from_transformer(model, num_layers=2))
    x = inputs()
    with torch.no_grad():
        expected = run(model, controlnet, x)
        for module in (model, controlnet):
            if sequential:
                cpu_offload(module, torch.device("cpu"), offload_buffers=True)
            else:
                cpu_offload_with_hook(module, torch.device("cpu"))
        if sequential:
            assert next(model.parameters()).is_meta
        assert torch.equal(run(model, controlnet, x), expected)


def test_cue_dropout_by_name_drops_that_cue_only():
    """``cue_dropout={name: 1}`` always drops that cue: its latents no longer change the loss, another cue's do
    (the same draws every call: one generator seed)."""
    model = tiny_transformer(num_layers=2)
    controlnet = perturbed(CogVideoXControlNet.from_transformer(model, num_layers=1))
    sched = scheduler()
    video, image, cues, text = training_sample(batch=2, seed=3)
    first = controlnet.cue_names[0]

    def loss(latents):
        return motion_loss(controlled, sched, video, image, latents, text, rotary(), torch.Generator().manual_seed(6),
                           cue_dropout={first: 1.0})

    with torch.no_grad(), ControlledTransformer(model, controlnet) as controlled:
        base = loss(cues)
        other_first, other_second = cues.clone(), cues.clone()
        other_first[:, 0] = torch.randn(other_first[:, 0].shape)
        other_second[:, 1] = torch.randn(other_second[:, 1].shape)
        assert torch.equal(loss(other_first), base)
        assert not torch.allclose(loss(other_second), base)
        assert not torch.allclose(motion_loss(controlled, sched, video, image, other_first, text, rotary(),
                                              torch.Generator().manual_seed(6)), base)  # without dropout it does


def test_loss_matches_the_release_formula_via_diffusers_get_velocity():
    """x0 from v is diffusers' scheduler.get_velocity(v, x_t, t); weight 1 / (1 - alpha_bar_t)."""
    model = tiny_transformer(num_layers=2)
    controlnet = perturbed(CogVideoXControlNet.from_transformer(model, num_layers=1))
    sched = scheduler()
    video, image, cues, text = training_sample(batch=2, seed=2)
    with torch.no_grad(), ControlledTransformer(model, controlnet) as controlled:
        seed = torch.Generator().manual_seed(4)
        got = motion_loss(controlled, sched, video, image, cues, text, rotary(), seed)
        draws = torch.Generator().manual_seed(4)  # same draws: timesteps, then noise
        t = torch.randint(0, 1000, (2,), generator=draws)
        noisy = sched.add_noise(video, torch.randn(video.shape, generator=draws), t)
        v = controlled(torch.cat([noisy, image], dim=2), text, t, cues, image_rotary_emb=rotary())
        x0 = sched.get_velocity(v, noisy, t)
        weights = (1 / (1 - sched.alphas_cumprod[t])).view(2, 1, 1, 1, 1)
        expected = (weights * (x0 - video) ** 2).flatten(1).mean(1).mean()
    torch.testing.assert_close(got, expected.float(), rtol=1e-5, atol=1e-6)
