"""Building blocks: embeddings, recurrent stacks, attention, CRF."""

from nlp_apps.layers.character_embedding import CharacterEmbedding
from nlp_apps.layers.echo_state_cell import EchoStateCell
from nlp_apps.layers.rnn_stack import RNNStack
from nlp_apps.layers.token_embedding import TokenEmbedding
from nlp_apps.layers.weight_drop_gru_cell import WeightDropGRUCell
from nlp_apps.layers.weight_drop_lstm_cell import WeightDropLSTMCell
from nlp_apps.layers.attention_pooling import AttentionPooling
from nlp_apps.layers.bahdanau_attention import BahdanauAttention
from nlp_apps.layers.crf import CRF
from nlp_apps.layers.crf_constraints import allowed_transitions
from nlp_apps.layers.luong_attention import LuongAttention
