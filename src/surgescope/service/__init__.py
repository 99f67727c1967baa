"""The live service (``surgescope serve``): an HTTP API taking crowd reports and traffic, a
dashboard page, Prometheus metrics and alerts. See docs/service.md.

- :mod:`.app`: the FastAPI routes (:func:`create_app`).
- :mod:`.reports`: per-service minute bins of report counts and their outage detectors.
- :mod:`.traffic`: per-second traffic aggregates and the attack analysis of recent windows.
- :mod:`.upload`: bounded streaming of request bodies (raw or multipart) to temporary files.
- :mod:`.detector`: the detector the service runs per service, and wave segmentation.
- :mod:`.metrics`: the Prometheus text exposition.
- :mod:`.dashboard`: the self-contained dashboard page.
"""

from surgescope.service.app import create_app

__all__ = ["create_app"]
