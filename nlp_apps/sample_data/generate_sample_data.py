"""Writes the small synthetic sample data sets used by tests and the README demo.

Everything is built here from templates and invented names, with fixed
random seeds, so running the script again reproduces the committed files
byte for byte:

    python -m nlp_apps.sample_data.generate_sample_data [--output-dir DIR]

No sentence is taken from a real corpus.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from pathlib import Path

SEED = 20240517


def _capitalize(text: str) -> str:
    return text[0].upper() + text[1:]

# ---------------------------------------------------------------------------
# NER: CoNLL-2003-like, 4 columns (word, POS, chunk, NER), IOB1 tags.
# ---------------------------------------------------------------------------

FIRST_NAMES = ["Marta", "Tomas", "Ilse", "Orin", "Bela", "Kasimir", "Yara", "Denholm", "Liesel", "Ravi", "Suna", "Edvin"]
SURNAMES = ["Velloso", "Brenner", "Quarrick", "Oduya", "Stanek", "Fellowes", "Marchetti", "Lindqvar", "Okafor", "Thistlewood"]
LOCATIONS = [["Norvale"], ["Kestrel", "Bay"], ["Ostria"], ["Port", "Ambrel"], ["Valdoria"], ["Lake", "Sennet"], ["Drummoor"], ["Caldera", "Springs"]]
ORGANIZATIONS = [
    ["Almont", "Corp"], ["Greyfield", "United"], ["Brightwater", "Bank"], ["Norvale", "Rovers"],
    ["Helix", "Motors"], ["the", "Ostrian", "Senate"], ["Pellam", "Airlines"], ["Corvane", "Mining"],
]
# "the" is not part of the ORG entity; handled by the leading-lowercase rule below.
NATIONALITIES = [["Norvalian"], ["Ostrian"], ["Valdorian"], ["Drummish"]]
EVENTS = [["Harbor", "Cup"], ["Summit", "Games"], ["Ambrel", "Open"]]

# Rough POS tags for template words; names get NNP and numbers CD.
POS_OF_WORD = {
    "said": "VBD", "told": "VBD", "visited": "VBD", "met": "VBD", "signed": "VBD", "beat": "VBD",
    "won": "VBD", "joined": "VBD", "left": "VBD", "opened": "VBD", "arrived": "VBD", "resumed": "VBD",
    "expects": "VBZ", "will": "MD", "travel": "VB", "rise": "VB", "rose": "VBD", "was": "VBD",
    "on": "IN", "in": "IN", "at": "IN", "to": "TO", "from": "IN", "with": "IN", "for": "IN", "after": "IN",
    "the": "DT", "The": "DT", "this": "DT", "In": "IN", "a": "DT", "new": "JJ", "final": "JJ", "last": "JJ", "its": "PRP$", "their": "PRP$",
    "and": "CC", "of": "IN", "that": "IN", "he": "PRP", "she": "PRP", "they": "PRP",
    "deal": "NN", "office": "NN", "match": "NN", "talks": "NNS", "week": "NN", "year": "NN",
    "contract": "NN", "factory": "NN", "profit": "NN", "percent": "NN", "team": "NN", "chairman": "NN",
    "minister": "NN", "border": "NN", "goals": "NNS", "shares": "NNS", "route": "NN", "title": "NN",
    "Monday": "NNP", "Tuesday": "NNP", "Friday": "NNP", "Sunday": "NNP",
    ".": ".", ",": ",", "-": ":", "(": "(", ")": ")",
}
CHUNK_OF_POS = {"VBD": "I-VP", "VBZ": "I-VP", "VB": "I-VP", "MD": "I-VP", "TO": "I-VP", "IN": "I-PP", "CC": "O"}

# Templates: words, or slots {PER}, {LOC}, {ORG}, {MISC}, {NUM}, {DAY}.
# Two slots of the same type side by side make IOB1 write a B- tag.
NER_TEMPLATES = [
    "{PER} visited {LOC} on {DAY} .",
    "{PER} , chairman of {ORG} , said the deal was final .",
    "{ORG} beat {ORG} {NUM} - {NUM} in {LOC} on {DAY} .",
    "{ORG} expects its profit to rise {NUM} percent this year .",
    "{PER} told {ORG} that {PER} will travel to {LOC} .",
    "{MISC} {MISC} border talks resumed in {LOC} on {DAY} .",
    "The {MISC} minister met {PER} in {LOC} .",
    "{PER} won the {MISC} title after {NUM} goals .",
    "In {LOC} {PER} signed a new contract with {ORG} .",
    "{ORG} opened a factory in {LOC} .",
    "{PER} {PER} and {PER} arrived at the {MISC} match .",
    "{ORG} shares rose {NUM} percent on {DAY} .",
    "{PER} left {ORG} and joined {ORG} last week .",
    "{LOC} {LOC} route opened on {DAY} .",
    "{PER} ( {LOC} ) won on {DAY} .",
]
DAYS = ["Monday", "Tuesday", "Friday", "Sunday"]


def _ner_entity(slot: str, rng: random.Random) -> tuple[list[str], str | None]:
    """Returns the words of one slot filler and its entity type (None = not an entity)."""
    if slot == "PER":
        if rng.random() < 0.3:
            return [rng.choice(SURNAMES)], "PER"
        return [rng.choice(FIRST_NAMES), rng.choice(SURNAMES)], "PER"
    if slot == "LOC":
        return list(rng.choice(LOCATIONS)), "LOC"
    if slot == "ORG":
        return list(rng.choice(ORGANIZATIONS)), "ORG"
    if slot == "MISC":
        return list(rng.choice(NATIONALITIES if rng.random() < 0.6 else EVENTS)), "MISC"
    if slot == "NUM":
        return [str(rng.randint(0, 9))], None
    if slot == "DAY":
        return [rng.choice(DAYS)], None
    raise ValueError(f"unknown slot {slot}")


def _ner_sentence(rng: random.Random) -> list[tuple[str, str, str, str]]:
    template = rng.choice(NER_TEMPLATES)
    rows = []
    previous_type = None
    for piece in template.split():
        if piece.startswith("{"):
            words, entity_type = _ner_entity(piece[1:-1], rng)
        else:
            words, entity_type = [piece], None
        first = True
        for word in words:
            # A leading lowercase word ("the Ostrian Senate") stays outside the entity.
            inside = entity_type is not None and not (first and word.islower())
            if entity_type is not None and word.islower():
                tag = "O"
            elif inside:
                tag = ("B-" if first and previous_type == entity_type else "I-") + entity_type
                first = False
            else:
                tag = "O"
            if word.isdigit():
                pos = "CD"
            elif inside or word not in POS_OF_WORD:
                pos = "NNP"
            else:
                pos = POS_OF_WORD[word]
            rows.append((word, pos, CHUNK_OF_POS.get(pos, "O" if pos in ".,:()" else "I-NP"), tag))
        previous_type = entity_type if entity_type is not None else None
    return rows


def write_ner(output_dir: Path) -> None:
    rng = random.Random(SEED)
    folder = output_dir / "ner_sample"
    folder.mkdir(parents=True, exist_ok=True)
    for split, num_sentences in (("train", 300), ("dev", 60), ("test", 60)):
        lines = ["-DOCSTART- -X- -X- O", ""]
        for index in range(num_sentences):
            if index and index % 20 == 0:
                lines += ["-DOCSTART- -X- -X- O", ""]
            lines += [" ".join(row) for row in _ner_sentence(rng)]
            lines.append("")
        (folder / f"{split}.conll").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Sentiment: id,label,text with multi-sentence invented reviews.
# ---------------------------------------------------------------------------

TITLES = ["The Glass Orchard", "Midnight at Kestrel Bay", "Paper Lanterns", "The Last Ferryman", "Copper Sky",
          "A Winter in Norvale", "Salt and Thunder", "The Quiet Engine", "Harbor Lights", "The Velvet Map"]
PEOPLE = ["the lead actor", "the director", "the cast", "the young actress", "the writer", "the composer"]
POSITIVE = [
    "{title} is a wonderful film.", "I loved every minute of {title}.", "{person} gives a brilliant performance.",
    "The story is moving and beautifully told.", "The music is lovely and the photography is stunning.",
    "It made me laugh and it made me cry.", "This is one of the best films of the year.",
    "The dialogue is sharp and funny.", "I would happily watch it again.", "{person} has never been better.",
    "The ending is perfect.", "A delightful surprise from start to finish.", "Highly recommended.",
]
NEGATIVE = [
    "{title} is a boring film.", "I hated almost every minute of {title}.", "{person} gives a terrible performance.",
    "The story is dull and badly told.", "The music is annoying and the photography is ugly.",
    "It made me check my watch again and again.", "This is one of the worst films of the year.",
    "The dialogue is clumsy and painful.", "I would never watch it again.", "{person} has never been worse.",
    "The ending is a mess.", "A tedious waste of two hours.", "Avoid it.",
]
NEUTRAL = ["It runs for about two hours.", "I saw it on a rainy Sunday.", "It is based on a novel.",
           "The film is set in a small harbour town.", "My friend chose it."]


def _review(label: str, rng: random.Random) -> str:
    title, person = rng.choice(TITLES), rng.choice(PEOPLE)
    pool = POSITIVE if label == "pos" else NEGATIVE
    sentences = rng.sample(pool, rng.randint(2, 3))
    if rng.random() < 0.4:
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(NEUTRAL))
    return " ".join(_capitalize(sentence.format(title=title, person=person)) for sentence in sentences)


def write_sentiment(output_dir: Path) -> None:
    rng = random.Random(SEED + 1)
    folder = output_dir / "sentiment_sample"
    folder.mkdir(parents=True, exist_ok=True)
    review_id = 0
    for split, num_reviews in (("train", 300), ("dev", 60), ("test", 60)):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "label", "text"])
        for _ in range(num_reviews):
            label = rng.choice(["pos", "neg"])
            writer.writerow([review_id, label, _review(label, rng)])
            review_id += 1
        (folder / f"{split}.csv").write_text(buffer.getvalue(), encoding="utf-8")


# ---------------------------------------------------------------------------
# Translation: English -> German template sentences with correct grammar.
# ---------------------------------------------------------------------------

# Nouns: english, german, gender (m/f/n); plural subjects take plural verbs.
SUBJECT_NOUNS = [("man", "Mann", "m"), ("woman", "Frau", "f"), ("child", "Kind", "n"), ("dog", "Hund", "m"),
                 ("cat", "Katze", "f"), ("teacher", "Lehrer", "m"), ("girl", "Mädchen", "n"), ("boy", "Junge", "m")]
ANIMALS = {"dog", "cat"}
PLURAL_SUBJECTS = [("children", "Kinder"), ("men", "Männer"), ("women", "Frauen"), ("students", "Studenten")]
PRONOUNS = [("I", "ich", "1sg"), ("he", "er", "3sg"), ("she", "sie", "3sg"), ("we", "wir", "pl")]
NAMES = ["Anna", "Peter", "Lena", "Tom"]
SUBJECT_ADJECTIVES = [("old", "alt"), ("young", "jung"), ("small", "klein")]
OBJECT_ADJECTIVES = [("big", "groß"), ("small", "klein"), ("new", "neu"), ("old", "alt"), ("red", "rot")]
OBJECTS = {"ball": ("Ball", "m"), "apple": ("Apfel", "m"), "letter": ("Brief", "m"), "book": ("Buch", "n"),
           "car": ("Auto", "n"), "house": ("Haus", "n"), "cup": ("Tasse", "f"), "newspaper": ("Zeitung", "f")}
# Verbs: english 3sg, english base, german 1sg, 3sg, plural.
INTRANSITIVE = [("sleeps", "sleep", "schlafe", "schläft", "schlafen"), ("runs", "run", "laufe", "läuft", "laufen"),
                ("laughs", "laugh", "lache", "lacht", "lachen"), ("sings", "sing", "singe", "singt", "singen"),
                ("works", "work", "arbeite", "arbeitet", "arbeiten")]
TRANSITIVE = [(("reads", "read", "lese", "liest", "lesen"), ["book", "newspaper", "letter"]),
              (("sees", "see", "sehe", "sieht", "sehen"), ["house", "car", "ball", "apple"]),
              (("buys", "buy", "kaufe", "kauft", "kaufen"), ["apple", "book", "car", "cup", "newspaper"]),
              (("has", "have", "habe", "hat", "haben"), ["ball", "car", "cup", "book", "house"]),
              (("likes", "like", "mag", "mag", "mögen"), ["apple", "house", "book", "car"])]
PLACES = [("in the garden", "im Garten"), ("in the park", "im Park"), ("in the kitchen", "in der Küche"),
          ("in the city", "in der Stadt"), ("at home", "zu Hause")]
TIMES = [("today", "heute"), ("tomorrow", "morgen"), ("now", "jetzt")]
DEFINITE_NOMINATIVE = {"m": "der", "f": "die", "n": "das"}
DEFINITE_ACCUSATIVE = {"m": "den", "f": "die", "n": "das"}
INDEFINITE_ACCUSATIVE = {"m": "einen", "f": "eine", "n": "ein"}


def _subject(rng: random.Random) -> tuple[str, str, str]:
    """Returns (english, german, person) with person in 1sg / 3sg / pl."""
    kind = rng.random()
    if kind < 0.45:
        english, german, gender = rng.choice(SUBJECT_NOUNS)
        # "the young boy" would be "der junge Junge": correct, but clumsy.
        if rng.random() < 0.3 and english != "boy":
            english_adjective, german_adjective = rng.choice(SUBJECT_ADJECTIVES)
            # Weak declension after a definite article, nominative: -e.
            return f"the {english_adjective} {english}", f"{DEFINITE_NOMINATIVE[gender]} {german_adjective}e {german}", "3sg"
        return f"the {english}", f"{DEFINITE_NOMINATIVE[gender]} {german}", "3sg"
    if kind < 0.6:
        english, german = rng.choice(PLURAL_SUBJECTS)
        return f"the {english}", f"die {german}", "pl"
    if kind < 0.8:
        english, german, person = rng.choice(PRONOUNS)
        return english, german, person
    name = rng.choice(NAMES)
    return name, name, "3sg"


def _object(noun: str, definite: bool, rng: random.Random) -> tuple[str, str]:
    german_noun, gender = OBJECTS[noun]
    if rng.random() < 0.35:
        english_adjective, german_adjective = rng.choice(OBJECT_ADJECTIVES)
        if definite:
            # Weak declension, accusative: masculine -en, feminine/neuter -e.
            ending = "en" if gender == "m" else "e"
            return f"the {english_adjective} {noun}", f"{DEFINITE_ACCUSATIVE[gender]} {german_adjective}{ending} {german_noun}"
        # Mixed declension after ein-, accusative: -en / -e / -es.
        ending = {"m": "en", "f": "e", "n": "es"}[gender]
        article = "an" if english_adjective[0] in "aeiou" else "a"
        return f"{article} {english_adjective} {noun}", f"{INDEFINITE_ACCUSATIVE[gender]} {german_adjective}{ending} {german_noun}"
    if definite:
        return f"the {noun}", f"{DEFINITE_ACCUSATIVE[gender]} {german_noun}"
    article = "an" if noun[0] in "aeiou" else "a"
    return f"{article} {noun}", f"{INDEFINITE_ACCUSATIVE[gender]} {german_noun}"


def _translation_pair(rng: random.Random) -> tuple[str, str]:
    subject_english, subject_german, person = _subject(rng)
    transitive = rng.random() < 0.6
    if transitive:
        choices = TRANSITIVE
        if subject_english.split()[-1] in ANIMALS:
            # Dogs and cats may see, have and like things, but not read or buy them.
            choices = [choice for choice in TRANSITIVE if choice[0][0] in ("sees", "has", "likes")]
        forms, objects = rng.choice(choices)
    else:
        forms, objects = rng.choice(INTRANSITIVE), []
    english_3sg, english_base, german_1sg, german_3sg, german_plural = forms
    german_verb = {"1sg": german_1sg, "3sg": german_3sg, "pl": german_plural}[person]
    negated = rng.random() < 0.25
    if negated:
        english_verb = ("does not " if person == "3sg" else "do not ") + english_base
    else:
        english_verb = english_3sg if person == "3sg" else english_base
    # "kein" would be needed to negate an indefinite object, so negated
    # sentences use definite objects only.
    object_english = object_german = ""
    if transitive:
        object_english, object_german = _object(rng.choice(objects), definite=negated or rng.random() < 0.6, rng=rng)
    place_english = place_german = ""
    if rng.random() < 0.35:
        place_english, place_german = rng.choice(PLACES)
    time_english = time_german = ""
    if rng.random() < 0.25:
        time_english, time_german = rng.choice(TIMES)

    english_words = [subject_english, english_verb, object_english, place_english]
    if time_english:
        english_words.insert(0, time_english + ",")
    english = " ".join(word for word in english_words if word)
    # German is verb-second: a fronted time adverb moves the subject after the verb.
    # "nicht" follows a definite object and precedes a place phrase.
    middle = [object_german, "nicht" if negated else "", place_german]
    if time_german:
        german_words = [time_german, german_verb, subject_german] + middle
    else:
        german_words = [subject_german, german_verb] + middle
    german = " ".join(word for word in german_words if word)
    return _capitalize(english) + ".", _capitalize(german) + "."


def write_translation(output_dir: Path) -> None:
    rng = random.Random(SEED + 2)
    folder = output_dir / "translation_sample"
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for split, num_pairs in (("train", 400), ("dev", 50), ("test", 50)):
        pairs = []
        # Dev and test sentences never occur in train: each English side is new.
        while len(pairs) < num_pairs:
            english, german = _translation_pair(rng)
            if english not in seen:
                seen.add(english)
                pairs.append((english, german))
        (folder / f"{split}.en").write_text("".join(english + "\n" for english, _ in pairs), encoding="utf-8")
        (folder / f"{split}.de").write_text("".join(german + "\n" for _, german in pairs), encoding="utf-8")


# ---------------------------------------------------------------------------
# Language model: PTB-style lowercase tokens, one sentence per line, no punctuation.
# ---------------------------------------------------------------------------

LM_SUBJECTS = ["the farmer", "a small dog", "the old sailor", "my sister", "the children", "a tired student",
               "the baker", "our neighbour", "the quiet boy", "the mayor"]
LM_VERBS = ["found", "carried", "painted", "sold", "lost", "watched", "cleaned", "opened", "wanted", "fixed"]
LM_OBJECTS = ["a red boat", "the heavy box", "two apples", "the broken gate", "a long letter", "the village bell",
              "N eggs", "the wooden chair", "a green kite", "the empty basket"]
LM_ENDINGS = ["in the morning", "near the river", "after dinner", "at the market", "on the hill", "before the rain",
              "with great care", "for N dollars", "every sunday", "last night"]
LM_CLAUSES = ["because it was late", "and then went home", "but nobody noticed", "while the sun was shining",
              "and everyone laughed", "so the story goes"]


def _lm_sentence(rng: random.Random) -> str:
    words = [rng.choice(LM_SUBJECTS), rng.choice(LM_VERBS), rng.choice(LM_OBJECTS)]
    if rng.random() < 0.7:
        words.append(rng.choice(LM_ENDINGS))
    if rng.random() < 0.3:
        words.append(rng.choice(LM_CLAUSES))
    return " ".join(words)


def write_language_model(output_dir: Path) -> None:
    rng = random.Random(SEED + 3)
    folder = output_dir / "lm_sample"
    folder.mkdir(parents=True, exist_ok=True)
    for split, num_sentences in (("train", 300), ("valid", 50), ("test", 50)):
        # PTB lines start and end with a space; keep that convention.
        text = "".join(f" {_lm_sentence(rng)} \n" for _ in range(num_sentences))
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=str(Path(__file__).resolve().parent))
    output_dir = Path(parser.parse_args(argv).output_dir)
    write_ner(output_dir)
    write_sentiment(output_dir)
    write_translation(output_dir)
    write_language_model(output_dir)


if __name__ == "__main__":
    main()
