"""The one Keras registration package of sttn's serialisable classes.

Every class that ``keras.saving`` must find again (layers, quantizers,
constraints, losses, models) is registered as ``"sttn>ClassName"`` through
:data:`register_serializable`, so the package name is written once.
"""

import keras

PACKAGE = "sttn"

#: Class decorator: ``keras.saving.register_keras_serializable(package="sttn")``.
register_serializable = keras.saving.register_keras_serializable(package=PACKAGE)
