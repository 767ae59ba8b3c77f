"""Allowed tag transitions for chunking schemes, to constrain a `CRF`.

`allowed_transitions(tag_names, scheme)` returns the three nested bool lists
that `nlp_apps.layers.CRF` takes as `allowed_transitions`, `allowed_start` and
`allowed_end`, so that decoding can never produce an ill-formed chunk sequence.
The rules follow AllenNLP's `allowed_transitions` (BIOUL = BIOES).
"""

_SCHEME_PREFIXES = {
    "iob1": ("O", "B", "I"),
    "iob2": ("O", "B", "I"),
    "bioes": ("O", "B", "I", "E", "S"),
}


def _parse_tag(tag, scheme, position):
    """Splits `"B-PER"` into `("B", "PER")` and `"O"` into `("O", None)`."""
    if not isinstance(tag, str):
        raise ValueError(
            f"allowed_transitions: `tag_names[{position}]` must be a str, got {tag!r}."
        )
    if tag == "O":
        return "O", None
    prefix, separator, entity = tag.partition("-")
    if not separator or not entity or prefix not in _SCHEME_PREFIXES[scheme][1:]:
        raise ValueError(
            f"allowed_transitions: `tag_names[{position}]` = {tag!r} has an unknown "
            f"tag prefix {prefix!r} for scheme {scheme!r}; expected 'O' or one of "
            f"{[p + '-<type>' for p in _SCHEME_PREFIXES[scheme][1:]]}."
        )
    return prefix, entity


def _is_allowed(scheme, from_prefix, from_entity, to_prefix, to_entity):
    same_entity = from_entity == to_entity
    if scheme == "iob2":
        # I-X continues a chunk of type X, opened by B-X.
        if to_prefix == "I":
            return from_prefix in ("B", "I") and same_entity
        return True
    if scheme == "iob1":
        # I-X opens or continues a chunk; B-X only separates two adjacent
        # chunks of the same type, so it must follow B-X or I-X.
        if to_prefix == "B":
            return from_prefix in ("B", "I") and same_entity
        return True
    # BIOES: inside a chunk (after B or I) only I or E of the same type may
    # follow; outside a chunk (after O, E or S) only O, B or S may follow.
    if from_prefix in ("B", "I"):
        return to_prefix in ("I", "E") and same_entity
    return to_prefix in ("O", "B", "S")


def _is_allowed_start(scheme, prefix):
    if scheme == "iob2":
        return prefix != "I"
    if scheme == "iob1":
        return prefix != "B"
    return prefix in ("O", "B", "S")


def _is_allowed_end(scheme, prefix):
    if scheme == "bioes":
        return prefix in ("O", "E", "S")
    return True


def allowed_transitions(tag_names, scheme):
    """Allowed transitions between the tags of a chunking scheme.

    Args:
        tag_names: sequence of str, the tag vocabulary in id order, e.g.
            `["O", "B-PER", "I-PER"]`. Every name is `"O"` or
            `"<prefix>-<type>"`.
        scheme: `"iob1"`, `"iob2"` or `"bioes"` (case-insensitive).

    Returns:
        `(allowed, allowed_start, allowed_end)`: `allowed[i][j]` is True when
        tag `j` may follow tag `i` (a `num_tags x num_tags` list of lists);
        `allowed_start[j]` / `allowed_end[i]` say whether a sequence may begin
        with tag `j` / end with tag `i`. Plain Python bools, JSON-serializable.

    Raises:
        ValueError: unknown `scheme`, or a tag name whose prefix is not part of
            the scheme (the message names the tag and its position).
    """
    if not isinstance(scheme, str) or scheme.lower() not in _SCHEME_PREFIXES:
        raise ValueError(
            f"allowed_transitions: `scheme` must be one of "
            f"{sorted(_SCHEME_PREFIXES)}, got {scheme!r}."
        )
    scheme = scheme.lower()
    if isinstance(tag_names, str) or len(tag_names) == 0:
        raise ValueError(
            "allowed_transitions: `tag_names` must be a non-empty sequence of "
            f"tag names, got {tag_names!r}."
        )
    parsed = [_parse_tag(tag, scheme, i) for i, tag in enumerate(tag_names)]
    allowed = [
        [_is_allowed(scheme, *from_tag, *to_tag) for to_tag in parsed]
        for from_tag in parsed
    ]
    allowed_start = [_is_allowed_start(scheme, prefix) for prefix, _ in parsed]
    allowed_end = [_is_allowed_end(scheme, prefix) for prefix, _ in parsed]
    return allowed, allowed_start, allowed_end
