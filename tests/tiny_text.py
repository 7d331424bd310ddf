"""Offline tiny text stacks for pipeline tests (they live in pam.smoke, which --smoke runs also use)."""

from pam.smoke import WORDS, tiny_clip, tiny_t5, tiny_tokenizer  # noqa: F401
