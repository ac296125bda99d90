from w2w_core import world
from w2w_core.text import EOS, build_tokenizer


def test_every_prompt_word_is_one_token():
    tokenizer = build_tokenizer(world.PROMPT_WORDS, max_length=32)
    for word in world.PROMPT_WORDS:
        assert tokenizer.tokenize(word) == [word + "</w>"]


def test_unknown_words_still_tokenize_by_characters():
    tokenizer = build_tokenizer(["cat"], max_length=16)
    assert tokenizer.tokenize("dog") == ["d", "o", "g</w>"]


def test_prompts_pad_to_max_length_with_end_token():
    tokenizer = build_tokenizer(world.PROMPT_WORDS, max_length=32)
    ids = tokenizer(world.INSTANCE_PROMPT, padding="max_length", max_length=32).input_ids
    assert len(ids) == 32
    assert tokenizer.convert_ids_to_tokens(ids[-1]) == EOS
    assert "sks</w>" in tokenizer.convert_ids_to_tokens(ids)
