"""Batch QA over many recorded calls, resumable, on this machine or a Ray cluster.

``voicemon analyze --engine local|ray`` (docs/scale.md):

* :mod:`voicemon.batch.inputs` — which calls: files, folders, globs and manifest CSVs
  (``path`` plus optional ``agent``, ``queue``, ``date`` columns);
* :mod:`voicemon.batch.manifest` — the run manifest ``<out>/manifest.jsonl``: per call its
  status, source hash, configuration hash, duration, error and report paths, appended one
  line per change (a killed run loses at most the calls in flight);
* :mod:`voicemon.batch.work` — analysing one call, the same function on every engine;
* :mod:`voicemon.batch.engine_local` and :mod:`voicemon.batch.engine_ray` — where calls run;
* :mod:`voicemon.batch.run` — the driver: decide what is left, dispatch, write each call's
  files once (the driver is the only writer), summarise.

Nothing here imports Ray unless the Ray engine is used.
"""
