"""Text prompts that describe an identity's attributes, and their vocabulary.

A prompt is "a photo of a person" followed by one phrase per given
attribute, e.g. "a photo of a person, man, beard, glasses". Words are
lowercase a-z separated by spaces; phrases are separated by ", ". Every
word that can appear is in PROMPT_WORDS, so a hand-made tokenizer covers it.
"""
from __future__ import annotations

from typing import Mapping

from w2w_core.errors import InputError
from w2w_core.world.identity import ATTRIBUTES

INSTANCE_PROMPT = "a photo of sks person"
CLASS_PROMPT = "a photo of a person"

# attribute -> (phrase when true, phrase when false or None to say nothing)
ATTRIBUTE_PHRASES: dict[str, tuple[str, str | None]] = {
    "male": ("man", "woman"),
    "young": ("young", "old"),
    "beard": ("beard", None),
    "glasses": ("glasses", None),
    "bald": ("bald", None),
    "pale_skin": ("pale skin", None),
    "chubby": ("chubby", None),
    "smiling": ("smiling", None),
    "blond_hair": ("blond hair", None),
    "long_hair": ("long hair", None),
}


def prompt_for(attributes: Mapping[str, bool] | None) -> str:
    """The prompt for these attributes, phrases in ATTRIBUTES order; None -> CLASS_PROMPT.

    A partial mapping names only the attributes it holds, so "man" alone is
    `prompt_for({"male": True})`.
    """
    if attributes is None:
        return CLASS_PROMPT
    unknown = sorted(set(attributes) - set(ATTRIBUTES))
    if unknown:
        raise InputError(f"unknown attribute(s) {unknown}; known: {', '.join(ATTRIBUTES)}")
    phrases = [CLASS_PROMPT]
    for name in ATTRIBUTES:
        if name in attributes:
            phrase = ATTRIBUTE_PHRASES[name][0 if attributes[name] else 1]
            if phrase is not None:
                phrases.append(phrase)
    return ", ".join(phrases)


def _words() -> tuple[str, ...]:
    texts = [INSTANCE_PROMPT, CLASS_PROMPT]
    texts += [p for pair in ATTRIBUTE_PHRASES.values() for p in pair if p is not None]
    return tuple(sorted({w for t in texts for w in t.split()}))


PROMPT_WORDS: tuple[str, ...] = _words()
