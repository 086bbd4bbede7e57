"""The ``qkernels`` sub-commands that are more than a call into the library (``prune``)."""
