"""The onset of the period-2 instability and the curvature threshold lambda_th measured there.

- :mod:`.bifurcation` the detector: the first sustained period-2 component of a loss trace, and the power-law fit
- :mod:`.onset`       the named onset definitions (``visible``, ``growing``, ``mode``, ``apparent``, ``ceiling``)
- :mod:`.measure`     lambda_th computed exactly at each run's onset, from a replay of the training
- :mod:`.validation`  systems with a known onset, on which the definitions are validated
- :mod:`.law`         the law of lambda_th in eta per definition (thesis eq. 3.10), and its CSV
"""
