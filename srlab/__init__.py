"""srlab: readable image and video super-resolution for reading groups.

Importing srlab does nothing but define names: no downloads, no seeding, no global settings.
Submodules are imported explicitly (``from srlab import metrics``)."""

__version__ = "0.1.0"
