"""emogen: emotion-controllable generation driven by one shared emotion space."""

__version__ = "0.1.0"
