"""Export of any task: `.keras`, SavedModel (string in), TFLite (float32/float16/int8), with fresh-process verification."""

from nlp_apps.export.atomic import atomic_output_dir
from nlp_apps.export.atomic import atomic_output_file
from nlp_apps.export.exporter import QUANTIZATIONS
from nlp_apps.export.exporter import ExportManifest
from nlp_apps.export.exporter import export_keras
from nlp_apps.export.exporter import export_saved_model
from nlp_apps.export.exporter import export_tflite
from nlp_apps.export.exporter import keras_serving_function
from nlp_apps.export.exporter import run_tflite
from nlp_apps.export.exporter import tflite_op_census
from nlp_apps.export.exporter import tflite_op_names
from nlp_apps.export.exporter import write_export_manifest
from nlp_apps.export.fused_lstm import fused_lstm_function
from nlp_apps.export.mobile_rnn import mobile_rnn_kernels
from nlp_apps.export.mobile_rnn import trace_for_tflite
from nlp_apps.export.verify import ExportVerificationError
from nlp_apps.export.verify import compare_outputs
from nlp_apps.export.verify import verify_saved_model
from nlp_apps.export.verify import verify_tflite
