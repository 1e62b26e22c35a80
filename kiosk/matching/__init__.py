"""Open-set matching: who a face is, or nobody (docs/ARCHITECTURE.md, stage 7).

- :mod:`kiosk.matching.rule`: the rule itself (the accept test, the threshold in force, the
  fusion weights, the frames that must agree, the rolling-update gate). Everything that decides
  calls it.
- :mod:`kiosk.matching.matrix`: one model's stored embeddings as one float32 matrix and its
  exact decision (:class:`~kiosk.matching.matrix.GalleryMatrix`).
- :mod:`kiosk.matching.fused`: the decision on the fused distance of several models' matrices.
- :mod:`kiosk.matching.prefilter`: the int8 copies large galleries are scanned through first.
- :mod:`kiosk.matching.quantize`: the int8 and subspace maths of those copies.
- :mod:`kiosk.matching.threads`: the scan's threads and operating-system tuning.

This package never imports the store: the gallery (:mod:`kiosk.gallery`) feeds it rows.
"""
