"""Imports TF-MOT and ``tf_keras`` once for :mod:`sttn_keras.tfmot`.

Importing ``tensorflow_model_optimization`` sets ``TF_USE_LEGACY_KERAS`` for
the whole process; :func:`_import_tfmot` puts it back as it was, so importing
:mod:`sttn_keras.tfmot` leaves ``import keras`` meaning Keras 3.
"""

from __future__ import annotations

import os

import tensorflow as tf


def _import_tfmot():
    """Imports TF-MOT and tf_keras without leaving TF_USE_LEGACY_KERAS set.

    TF-MOT's compat module sets the variable and then reads ``tf.keras``;
    resolving ``tf.keras`` first (with the user's setting) keeps it what it
    was, and the variable is put back as it was.
    """
    key = "TF_USE_LEGACY_KERAS"
    saved = os.environ.get(key)
    try:
        _ = tf.keras.__name__  # resolve the lazy tf.keras with the user's setting
    except (AttributeError, ImportError):  # no Keras at all: TF-MOT decides
        pass
    try:
        import tensorflow_model_optimization as tfmot_lib
        import tf_keras as tf_keras_lib
    except ImportError as e:
        raise ImportError(
            "sttn_keras.tfmot needs the `tensorflow-model-optimization` and "
            "`tf-keras` packages: pip install 'sttn-keras[tfmot]'. "
            f"Import failed with: {e}"
        ) from e
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved
    return tfmot_lib, tf_keras_lib


tfmot, tf_keras = _import_tfmot()
_qk = tfmot.quantization.keras

_PACKAGE = "sttn_tfmot"
_register = tf_keras.saving.register_keras_serializable(package=_PACKAGE)
