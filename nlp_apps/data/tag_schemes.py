"""Entity tag schemes (IOB1, IOB2, BIOES): validation and conversion.

A tag is `O` or `PREFIX-TYPE` (the type may itself contain `-`).

- IOB1 (raw CoNLL-2003): `I-X` opens and continues an entity; `B-X` is used
  only to start an entity directly after another entity of the same type.
- IOB2 (also called BIO): every entity starts with `B-X`, continues with `I-X`.
- BIOES (also called IOBES): `S-X` is a one-token entity; longer entities are
  `B-X I-X ... E-X`.

Every conversion goes through entity spans, so all directions are supported
and converting back and forth never changes the entities.
"""

from __future__ import annotations

from typing import Sequence

SCHEMES = ("iob1", "iob2", "bioes")
_ALIASES = {"bio": "iob2", "iobes": "bioes"}
_PREFIXES = {"iob1": "IB", "iob2": "BI", "bioes": "BIES"}
OUTSIDE = "O"


def normalize_scheme(scheme: str, argument: str = "scheme") -> str:
    """Returns the canonical name ("iob1", "iob2", "bioes") of a scheme or alias.

    Raises:
        ValueError: unknown scheme; the message starts with `argument`.
    """
    name = str(scheme).lower()
    name = _ALIASES.get(name, name)
    if name not in SCHEMES:
        raise ValueError(
            f"{argument}: unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)} "
            f"(aliases: {', '.join(f'{alias}={target}' for alias, target in _ALIASES.items())})"
        )
    return name


def _split_tag(tag: str) -> tuple[str, str] | None:
    """Returns (prefix, type), ("O", "") for the outside tag, None if malformed."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, entity_type = str(tag).partition("-")
    if not dash or len(prefix) != 1 or not entity_type:
        return None
    return prefix, entity_type


def first_tag_error(tags: Sequence[str], scheme: str) -> tuple[int, str] | None:
    """Finds the first tag that breaks `scheme`.

    IOB1 accepts `B-X` after a token that is not of type X, although the
    scheme never writes it: it can only mean the start of an entity, and
    CoNLL-2003's `eng.train` holds two such tags (B-MISC after O).

    Args:
        tags: one sequence of tags (one sentence).
        scheme: "iob1", "iob2" or "bioes" (aliases "bio", "iobes").

    Returns:
        `(position, message)` with the 0-based position of the first bad tag
        and a message naming the tag, or None when the sequence is valid.
    """
    scheme = normalize_scheme(scheme, "scheme")
    allowed_prefixes = _PREFIXES[scheme]
    previous_prefix, previous_type = OUTSIDE, ""
    for position, tag in enumerate(tags):
        parts = _split_tag(tag)
        if parts is None:
            return position, f"tag {tag!r} is neither 'O' nor PREFIX-TYPE (e.g. 'B-PER')"
        prefix, entity_type = parts
        if tag != OUTSIDE and prefix not in allowed_prefixes:
            return position, f"tag {tag!r} has prefix {prefix!r}, which {scheme} does not use"
        inside_same_entity = previous_prefix in "BI" and previous_type == entity_type
        if scheme == "iob2" and prefix == "I" and not inside_same_entity:
            return position, f"tag {tag!r} continues an entity, but the previous tag is {_previous(tags, position)}"
        if scheme == "bioes":
            if prefix in "IE" and not inside_same_entity:
                return position, f"tag {tag!r} continues an entity, but the previous tag is {_previous(tags, position)}"
            if previous_prefix in "BI" and not (prefix in "IE" and previous_type == entity_type):
                return position, (
                    f"tag {tag!r} follows {tags[position - 1]!r}, which must be continued by "
                    f"I-{previous_type} or E-{previous_type}"
                )
        previous_prefix, previous_type = prefix, entity_type
    if scheme == "bioes" and previous_prefix in "BI":
        position = len(tags) - 1
        return position, f"tag {tags[position]!r} ends the sequence, so its entity is never closed with E-"
    return None


def _previous(tags: Sequence[str], position: int) -> str:
    return repr(tags[position - 1]) if position > 0 else "the sequence start"


def validate_tags(tags: Sequence[str], scheme: str) -> None:
    """Checks that `tags` is a valid sequence in `scheme`.

    Raises:
        ValueError: names the 0-based position and the tag, e.g.
            "position 3 (0-based): tag 'I-PER' continues an entity, ...".
    """
    error = first_tag_error(tags, scheme)
    if error is not None:
        position, message = error
        raise ValueError(f"position {position} (0-based): {message}")


def _to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entity spans `(start, end_exclusive, type)` of an already validated sequence.

    One rule covers all three schemes: `B` and `S` always start an entity,
    `I` and `E` start one only when the previous token is not of the same
    type (IOB1's `I` start), and `E`/`S` close the entity.
    """
    spans = []
    start, current_type, open_entity = 0, "", False
    for position, tag in enumerate(tags):
        prefix, entity_type = _split_tag(tag)
        starts = prefix in "BS" or (prefix in "IE" and not (open_entity and current_type == entity_type))
        if open_entity and (prefix == OUTSIDE or starts):
            spans.append((start, position, current_type))
            open_entity = False
        if prefix == OUTSIDE:
            continue
        if starts:
            start, current_type, open_entity = position, entity_type, True
        if prefix in "ES":
            spans.append((start, position + 1, current_type))
            open_entity = False
    if open_entity:
        spans.append((start, len(tags), current_type))
    return spans


def _from_spans(spans: list[tuple[int, int, str]], length: int, scheme: str) -> list[str]:
    tags = [OUTSIDE] * length
    previous_end, previous_type = -1, ""
    for start, end, entity_type in spans:
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{entity_type}"
        else:
            for position in range(start, end):
                tags[position] = f"I-{entity_type}"
            if scheme == "bioes":
                tags[start] = f"B-{entity_type}"
                tags[end - 1] = f"E-{entity_type}"
            elif scheme == "iob2" or (previous_end == start and previous_type == entity_type):
                # IOB1 writes B- only to separate two adjacent same-type entities.
                tags[start] = f"B-{entity_type}"
        previous_end, previous_type = end, entity_type
    return tags


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Converts one tag sequence between IOB1, IOB2 and BIOES.

    Args:
        tags: tags of one sentence, valid in `source`.
        source: scheme of `tags`; target: scheme to return.

    Returns:
        A new list of tags in `target`, with the same entities.

    Raises:
        ValueError: unknown scheme, or `tags` invalid in `source` (the message
            names the position and tag, as `validate_tags`).
    """
    source = normalize_scheme(source, "source")
    target = normalize_scheme(target, "target")
    validate_tags(tags, source)
    if source == target:
        return list(tags)
    return _from_spans(_to_spans(tags), len(tags), target)
