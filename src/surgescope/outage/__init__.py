"""Outage detection from crowd reports, mention volume and request counts.

- :mod:`surgescope.outage.baseline`: robust seasonal baseline with a count-aware tail bound.
- :mod:`surgescope.outage.detectors`: NAB-scored anomaly detectors (streaming and batch).
- :mod:`surgescope.outage.waves`: wave segmentation with hysteresis and trough splitting.
- :mod:`surgescope.outage.analyze`: series files and report tables to the ``outage`` section.
- :mod:`surgescope.outage.nab`: the NAB scorer and benchmark harness.
"""

from surgescope.outage.analyze import analyze_reports, analyze_requests, detect_file

__all__ = ["analyze_reports", "analyze_requests", "detect_file"]
