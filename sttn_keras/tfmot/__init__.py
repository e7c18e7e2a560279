"""STTN for ``tf_keras`` (Keras 2) users, through TF Model Optimization.

Train Soft Threshold Ternary kernels in an existing ``tf_keras`` training
pipeline with ``tensorflow-model-optimization`` (TF-MOT) QuantizeConfigs, then
export the result to our ``.tflite`` with sttn custom ops::

    pip install 'sttn-keras[tfmot]'

What this module gives you:

* :class:`SttnConv2DConfig`, :class:`SttnDenseConfig`,
  :class:`SttnDepthwiseConv2DConfig`: QuantizeConfigs that train the layer's
  kernel as an STTN ternary kernel. The layer's own kernel is the first latent
  kernel ``W1``; a quantizer variable ``<kernel>_latent_2`` holds ``W2``. Both
  are clamped to ``[-1, 1]`` after each update (:class:`LatentClip`). With
  ``kernel_quantizer="twn"`` the same configs train the TWN baseline (one
  latent kernel, hard threshold).
* :class:`TernaryOutputConfig`: ternary activations. STTN ternarizes the
  *input* of a ternary layer (after a BatchNormalization); TF-MOT quantizes
  layer *outputs*, so put this config on the layer that feeds the ternary
  layers (typically that BatchNormalization).
* :func:`annotate`, :func:`quantize_apply`, :func:`quantize_scope`: TF-MOT's
  functions with our configs, scheme and custom objects filled in.
* :func:`to_keras3`: the equivalent Keras 3 model with our ``Ternary*``
  layers and the same weights, for :func:`sttn_keras.export.to_tflite`.

The math is that of :mod:`sttn_keras.quantizers`, written in TensorFlow ops
(``tf_keras`` runs only on TensorFlow): forward
``alpha * (sign W1 + sign W2)`` with ``alpha = (|W1|_1 + |W2|_1) / 2n`` per
output channel, backward ``dL/dW_k = g + sign(W_k) * mean_n(sign(W_k) g)``;
ternary activations ``+1 if x > 0.5, -1 if x < -0.5, else 0`` with the
gradient passed where ``|x| < 1``. ``W2`` starts at the TWN warm start of the
float kernel (:func:`sttn_keras.float_to_sttn.warm_start_latent_kernels`):
``W1 = W/s + d``, ``W2 = W/s - d``, so a pretrained float layer starts as its
TWN ternarisation and learns away from it.

Keras 2 and Keras 3 in one process: importing ``tensorflow_model_optimization``
sets ``os.environ["TF_USE_LEGACY_KERAS"] = "1"`` for the whole process
(TF-MOT 0.8.1 uses ``tf_keras`` whatever the variable says). This module
imports TF-MOT with the variable restored afterwards and ``tf.keras`` resolved
before, so importing it changes neither the environment nor what ``tf.keras``
means; ``import keras`` stays Keras 3. ``import sttn_keras`` itself never
imports ``tf_keras`` or TF-MOT.

Example (a code block, not a doctest: it needs ``tf_keras`` and TF-MOT)::

    import tf_keras
    from sttn_keras import tfmot as sttn_tfmot
    from sttn_keras.export import to_tflite

    L = tf_keras.layers
    model = tf_keras.Sequential([
        L.InputLayer((28, 28, 1)),
        L.Conv2D(16, 3, strides=2, padding="same"),        # stays float
        sttn_tfmot.annotate(L.BatchNormalization()),       # ternary outputs
        sttn_tfmot.annotate(L.Conv2D(32, 3, padding="same")),   # STTN kernel
        L.BatchNormalization(),
        L.Flatten(),
        L.Dense(10),                                       # stays float
    ])
    qat = sttn_tfmot.quantize_apply(model)
    qat.compile("adam", "sparse_categorical_crossentropy")
    qat.fit(x, y)
    to_tflite(sttn_tfmot.to_keras3(qat), "model.tflite")
"""

# The loaded TF-MOT and tf_keras modules, for users and tests.
from ._tf_keras import tf_keras, tfmot  # noqa: F401
from .configs import (
    SttnConv2DConfig,
    SttnDenseConfig,
    SttnDepthwiseConv2DConfig,
    SttnQuantizeScheme,
    TernaryOutputConfig,
    _TernaryKernelConfig,  # noqa: F401 (the tests check configs by it)
    annotate,
    quantize_apply,
    quantize_scope,
)
from .quantizers import (
    LatentClip,
    SttnKernelQuantizer,
    TernaryActivationQuantizer,
    TwnKernelQuantizer,
)
from .translate import to_keras3

__all__ = [
    "LatentClip",
    "SttnKernelQuantizer",
    "TwnKernelQuantizer",
    "TernaryActivationQuantizer",
    "SttnConv2DConfig",
    "SttnDenseConfig",
    "SttnDepthwiseConv2DConfig",
    "TernaryOutputConfig",
    "SttnQuantizeScheme",
    "annotate",
    "quantize_apply",
    "quantize_scope",
    "to_keras3",
]
