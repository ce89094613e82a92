"""voicemon: a local, open, explainable voice-call de-escalation monitor."""

__version__ = "0.1.0"
