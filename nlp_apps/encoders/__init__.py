"""Encoders mapping token ids to contextual vectors, and the config registry."""

from nlp_apps.encoders.registry import ENCODERS
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.encoders.registry import load_pretrained_encoder
from nlp_apps.encoders.registry import register_encoder
from nlp_apps.encoders.registry import save_encoder
from nlp_apps.encoders.rnn_encoder import RNNEncoder
