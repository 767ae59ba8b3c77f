"""A word (or tag, or character) vocabulary with fixed special-token ids."""

import collections
import os


class Vocabulary:
    """An ordered token list with `[PAD]` = 0, `[UNK]` = 1, then extra specials.

    Layout of the ids:

    * 0: the padding token (`pad_token`). Never produced for a real token:
      `nlp_apps` masks id 0 everywhere.
    * 1: the unknown token (`unk_token`), produced for out-of-vocabulary
      tokens.
    * 2 ... 1 + len(extra_special_tokens): extra special tokens such as
      `"<s>"` / `"</s>"` for translation and language modelling.
    * then the regular tokens, in the order given.

    The same layout is used by `TokenLookup` (in-graph lookup) and by the
    SentencePiece models trained with `train_sentencepiece` (pad 0, unk 1,
    bos 2, eos 3), so ids agree across the package.

    Args:
        tokens: iterable of str. The regular tokens, without the special
            tokens. Must be unique, non-empty, not whitespace-only and free of
            line breaks (the file format is one token per line).
        pad_token: str. Token with id 0.
        unk_token: str. Token with id 1.
        extra_special_tokens: iterable of str. Tokens with ids 2, 3, ...
    """

    def __init__(
        self,
        tokens,
        pad_token="[PAD]",
        unk_token="[UNK]",
        extra_special_tokens=(),
    ):
        if isinstance(tokens, str):
            raise ValueError(
                "Vocabulary: `tokens` must be an iterable of tokens, not a "
                f"single string ({tokens[:40]!r})."
            )
        self._pad_token = pad_token
        self._unk_token = unk_token
        self._extra_special_tokens = tuple(extra_special_tokens)
        special_tokens = [pad_token, unk_token, *self._extra_special_tokens]
        all_tokens = special_tokens + list(tokens)
        token_to_id = {}
        for index, token in enumerate(all_tokens):
            field = (
                f"special token {index}"
                if index < len(special_tokens)
                else f"tokens[{index - len(special_tokens)}]"
            )
            _check_token(token, f"Vocabulary: {field}")
            if token in token_to_id:
                raise ValueError(
                    f"Vocabulary: {field}: duplicate token {token!r} (already "
                    f"has id {token_to_id[token]})."
                )
            token_to_id[token] = index
        self._tokens = all_tokens
        self._token_to_id = token_to_id

    @classmethod
    def build(
        cls,
        token_sequences,
        max_size=None,
        min_frequency=1,
        extra_special_tokens=(),
        pad_token="[PAD]",
        unk_token="[UNK]",
    ):
        """Builds a vocabulary from tokenized text.

        Tokens are sorted by decreasing frequency, ties broken by the
        alphabetical (code point) order of the token, so the result does not
        depend on the order of the data. Occurrences of the special tokens in
        the data are not counted.

        Args:
            token_sequences: iterable of sequences of str (e.g. sentences as
                lists of words).
            max_size: int or None. Maximum total size of the vocabulary,
                special tokens included (so it can be used directly as the
                `vocabulary_size` of an embedding).
            min_frequency: int. Tokens seen fewer times are left out.
            extra_special_tokens, pad_token, unk_token: as in the constructor.

        Returns:
            A `Vocabulary`.
        """
        special_tokens = {pad_token, unk_token, *extra_special_tokens}
        num_special = 2 + len(tuple(extra_special_tokens))
        if max_size is not None and max_size < num_special:
            raise ValueError(
                f"Vocabulary.build: max_size={max_size} is smaller than the "
                f"{num_special} special tokens."
            )
        if min_frequency < 1:
            raise ValueError(
                f"Vocabulary.build: min_frequency must be >= 1, got {min_frequency}."
            )
        counts = collections.Counter()
        for sequence_index, sequence in enumerate(token_sequences):
            if isinstance(sequence, str):
                raise ValueError(
                    f"Vocabulary.build: token_sequences[{sequence_index}] is a "
                    "string; expected a sequence of tokens (tokenize first)."
                )
            for token_index, token in enumerate(sequence):
                _check_token(
                    token,
                    f"Vocabulary.build: token_sequences[{sequence_index}]"
                    f"[{token_index}]",
                )
                counts[token] += 1
        ranked = sorted(
            (
                (token, count)
                for token, count in counts.items()
                if count >= min_frequency and token not in special_tokens
            ),
            key=lambda item: (-item[1], item[0]),
        )
        tokens = [token for token, _ in ranked]
        if max_size is not None:
            tokens = tokens[: max_size - num_special]
        return cls(
            tokens,
            pad_token=pad_token,
            unk_token=unk_token,
            extra_special_tokens=extra_special_tokens,
        )

    def save(self, path):
        """Writes the full token list (specials first), one per line, UTF-8."""
        with open(path, "w", encoding="utf-8", newline="\n") as file:
            for token in self._tokens:
                file.write(token + "\n")

    @classmethod
    def load(cls, path, extra_special_tokens=None):
        """Reads a file written by `save`.

        Line 1 is the padding token and line 2 the unknown token. Lines are
        split on "\\n" only (a trailing "\\r" is dropped), so tokens may hold
        any other character.

        Args:
            path: str or path-like.
            extra_special_tokens: None, or the extra special tokens the file
                is expected to hold on lines 3, 4, ...; a mismatch raises
                `ValueError`. With None, every line after line 2 is a regular
                token.

        Raises:
            ValueError: "FILE:LINE: ..." for an empty line, a duplicate token,
                invalid UTF-8, or a missing/mismatched special token.
        """
        path = os.fspath(path)
        with open(path, "rb") as file:
            data = file.read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        tokens = []
        seen = {}
        for line_number, raw_line in enumerate(lines, start=1):
            if raw_line.endswith(b"\r"):
                raw_line = raw_line[:-1]
            try:
                token = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{line_number}: invalid UTF-8 ({error.reason} at "
                    f"byte {error.start})."
                ) from None
            if not token.strip():
                raise ValueError(
                    f"{path}:{line_number}: empty line (every line must hold "
                    "one token)."
                )
            if token in seen:
                raise ValueError(
                    f"{path}:{line_number}: duplicate token {token!r} (first "
                    f"seen on line {seen[token]})."
                )
            seen[token] = line_number
            tokens.append(token)
        if len(tokens) < 2:
            raise ValueError(
                f"{path}:{len(tokens) + 1}: expected the padding token on line 1 "
                "and the unknown token on line 2."
            )
        extras = ()
        if extra_special_tokens is not None:
            extras = tuple(extra_special_tokens)
            for offset, expected in enumerate(extras):
                line_number = 3 + offset
                found = tokens[2 + offset] if 2 + offset < len(tokens) else None
                if found != expected:
                    raise ValueError(
                        f"{path}:{line_number}: expected extra special token "
                        f"{expected!r}, found {found!r}."
                    )
        return cls(
            tokens[2 + len(extras) :],
            pad_token=tokens[0],
            unk_token=tokens[1],
            extra_special_tokens=extras,
        )

    def __len__(self):
        return len(self._tokens)

    def __contains__(self, token):
        return token in self._token_to_id

    def __eq__(self, other):
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (
            self._tokens == other._tokens
            and self._extra_special_tokens == other._extra_special_tokens
        )

    def __repr__(self):
        return (
            f"Vocabulary(size={len(self)}, pad_token={self._pad_token!r}, "
            f"unk_token={self._unk_token!r}, "
            f"extra_special_tokens={self._extra_special_tokens!r})"
        )

    @property
    def tokens(self):
        """The full token list, id order, special tokens included (a copy)."""
        return list(self._tokens)

    @property
    def pad_token(self):
        return self._pad_token

    @property
    def unk_token(self):
        return self._unk_token

    @property
    def extra_special_tokens(self):
        return self._extra_special_tokens

    @property
    def special_tokens(self):
        """Padding, unknown and extra special tokens, in id order."""
        return self._tokens[: 2 + len(self._extra_special_tokens)]

    @property
    def pad_id(self):
        return 0

    @property
    def unk_id(self):
        return 1

    def token_to_id(self, token):
        """Id of `token`; the unknown id (1) when it is not in the vocabulary."""
        return self._token_to_id.get(token, 1)

    def id_to_token(self, token_id):
        token_id = int(token_id)
        if not 0 <= token_id < len(self._tokens):
            raise ValueError(
                f"Vocabulary.id_to_token: id {token_id} is outside "
                f"[0, {len(self._tokens)})."
            )
        return self._tokens[token_id]

    def encode(self, tokens):
        """Maps a list of tokens to a list of ids (unknown tokens → 1)."""
        if isinstance(tokens, str):
            raise ValueError(
                "Vocabulary.encode: expected a list of tokens, got a string "
                f"({tokens[:40]!r}); tokenize it first."
            )
        return [self._token_to_id.get(token, 1) for token in tokens]

    def decode(self, ids, skip_padding=True):
        """Maps ids back to tokens; padding ids (0) are dropped by default."""
        return [
            self.id_to_token(token_id)
            for token_id in ids
            if not (skip_padding and int(token_id) == 0)
        ]


def _check_token(token, field):
    if not isinstance(token, str):
        raise ValueError(f"{field}: token must be str, got {type(token).__name__}.")
    if not token.strip():
        raise ValueError(f"{field}: empty or whitespace-only token {token!r}.")
    if "\n" in token or "\r" in token:
        raise ValueError(f"{field}: token {token!r} contains a line break.")
