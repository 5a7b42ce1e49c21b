"""The weights manager: find, download and verify model checkpoints, never handing out a partial or corrupt file.

Every error raised here derives from `explorer.weights.errors.WeightsError`, whose ``str()`` is a complete sentence
meant for the user (the page and the CLI show it instead of a traceback). A model load fetches every file its spec
declares through `explorer.weights.model_files.fetch_model_files`; `explorer.weights.cache.ensure_weights` fetches
one file; `explorer.weights.uploads` stores the weights users upload. Every weights file a model can load
(published, cached, uploaded) is written here and nowhere else.
"""
