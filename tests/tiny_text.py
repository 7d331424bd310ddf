"""Offline tiny text stacks for pipeline tests: a word-level fast tokenizer plus random-weight
CLIP / T5 encoders from small configs (no hub access)."""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast, T5Config, T5EncoderModel

WORDS = ["<pad>", "<unk>", "</s>", "<s>", "a", "hand", "holds", "mug", "the", "red", "can", "on", "table", "blurry"]


def tiny_tokenizer(max_length: int = 16) -> PreTrainedTokenizerFast:
    """A word-level tokenizer with a fixed 14-word vocabulary; unknown words map to <unk>."""
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="</s>",
        bos_token="<s>",
        model_max_length=max_length,
    )


def tiny_t5(d_model: int = 32, seed: int = 0) -> T5EncoderModel:
    import torch

    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(WORDS), d_model=d_model, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    return T5EncoderModel(cfg).eval()


def tiny_clip(hidden_size: int = 32, projection_dim: int = 32, seed: int = 0) -> CLIPTextModel:
    import torch

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(
        vocab_size=len(WORDS),
        hidden_size=hidden_size,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=16,
        projection_dim=projection_dim,
        pad_token_id=0,
        bos_token_id=3,
        eos_token_id=2,
    )
    return CLIPTextModel(cfg).eval()
