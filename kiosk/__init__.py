"""Face check-in kiosk: the pipeline and storage. No Qt imports anywhere in this package."""

__version__ = "0.1.0"
