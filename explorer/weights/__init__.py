"""The weights manager: find, download and verify model checkpoints, never handing out a partial or corrupt file.

Every error raised here derives from `explorer.weights.errors.WeightsError`, whose ``str()`` is a complete sentence
meant for the user (the page and the CLI show it instead of a traceback); `explorer.weights.cache.ensure_weights` is
the one call most callers need.
"""
