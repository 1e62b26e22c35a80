"""Evaluation and benchmarks of the kiosk on real data: not used by the running kiosk.

- :mod:`kiosk.eval.pairs`: verification accuracy on LFW-format pair lists (``eval-pairs``);
- :mod:`kiosk.eval.liveness`: liveness error rates on labelled sequences (``eval-liveness``);
- :mod:`kiosk.eval.bench`: per-stage latency on a video and matching time (``bench``,
  ``bench-match``).
"""
