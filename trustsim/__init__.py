"""TrustSim: measure and improve how reliably language models play social characters."""

__version__ = "0.1.0"
