"""surgescope: outage waves, DDoS characterisation and attribution with honest confidence."""

__version__ = "0.1.0"

__all__ = ["__version__"]
