"""What every string-in signature does to its input first: valid UTF-8, a length limit, an empty flag.

A single request must not be able to stall a server (a 50,000-character NER
input held a CPU for a minute), and bytes that are not UTF-8 must not make
a signature fail half-way. So before any tokenizer runs:

- invalid UTF-8 byte sequences become U+FFFD (the REST server only ever
  passes UTF-8; a gRPC client can pass anything);
- a text longer than the signature's limit (`export.max_input_chars`, else
  the task's default) is cut to that many characters and flagged in the
  `truncated` output (batch,) — documented in the model card and README;
- a text that is empty or whitespace only is flagged in `empty` (batch,),
  and the task gives it its documented neutral result instead of a guess.

Control characters are handled by the tasks' tokenizers (whitespace, never
a cut: see `nlp_apps.text`).
"""

import tensorflow as tf


def guard_texts(texts, max_chars: int):
    """`(texts, truncated, empty)`: `texts` as valid UTF-8 cut to `max_chars` characters, and the two flags."""
    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    truncated = tf.strings.length(texts, unit="UTF8_CHAR") > max_chars
    texts = tf.where(truncated, tf.strings.substr(texts, 0, max_chars, unit="UTF8_CHAR"), texts)
    empty = tf.equal(tf.strings.length(tf.strings.strip(texts)), 0)
    return texts, truncated, empty
