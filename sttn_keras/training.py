"""The STTN training recipe as a reusable API.

The reference recipe (Xu et al., arXiv version and reference code, ResNet-18 on
ImageNet): train from scratch with Adam (lr 5e-3, no weight decay) under a
cosine schedule, batch 256, and a loss that is **only** the distillation loss
to a pretrained float teacher (KL divergence to the teacher's softmax, no
label loss). The pieces:

* :class:`Distiller` wraps a student and a teacher into one ``keras.Model``
  whose ``fit`` minimises the distillation loss (plus an optional label loss).
  It overrides only ``compute_loss``, so the standard Keras ``train_step``
  runs: it works on the TensorFlow and JAX backends and under
  ``tf.distribute`` strategies.
* :func:`cosine_schedule` returns a Keras ``CosineDecay`` with optional linear
  warm-up, and :func:`reference_optimizer` the recipe's Adam with it.
* :func:`recalibrate_batchnorm` re-estimates every BatchNorm's moving
  statistics exactly (weights frozen, topological order, inference mode);
  :class:`BatchNormRecalibration` does it at the end of ``fit``, and the
  :class:`Distiller` does it by default. Do it before evaluating or
  exporting: the exported model folds whatever statistics the model holds.
* The latent-weight clamp needs nothing here: the ``"sttn"`` layers
  (``sttn_keras.layers``) give their latent kernels a ``[-1, 1]`` weight
  constraint, which the Keras optimizer applies after every update, on every
  backend and replica. There is deliberately no callback for it.

Example:

>>> import keras, numpy as np
>>> from sttn_keras import models, training
>>> teacher = models.small_cnn(kernel_quantizer=None, input_quantizer=None)
>>> student = models.small_cnn(kernel_quantizer="sttn")
>>> distiller = training.Distiller(student, teacher)
>>> distiller.compile(
...     optimizer=training.reference_optimizer(total_steps=1000),
...     metrics=["sparse_categorical_accuracy"],
... )
>>> x = np.zeros((8, 28, 28, 1), "float32"); y = np.zeros((8,), "int32")
>>> history = distiller.fit(x, y, epochs=1, verbose=0)
"""

# The recipe lives in one module per idea; this module gathers their public
# names (``sttn_keras.training.Distiller`` and friends keep working).
from .distillation import DistillationLoss, Distiller
from .recalibration import (
    BatchNormChange,
    BatchNormRecalibration,
    RecalibrationReport,
    _recalibrate_by_waves,  # noqa: F401 (the reference method of the tests)
    recalibrate_batchnorm,
)
from .recipe import cosine_schedule, reference_optimizer

__all__ = [
    "BatchNormChange",
    "BatchNormRecalibration",
    "DistillationLoss",
    "Distiller",
    "RecalibrationReport",
    "cosine_schedule",
    "recalibrate_batchnorm",
    "reference_optimizer",
]
