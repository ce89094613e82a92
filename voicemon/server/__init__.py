"""The WebSocket feed server (``voicemon serve``): ingest, watch, HTTP pages."""
