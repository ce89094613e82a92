"""voicemon's own model files (lexicons, meter parameters, coaching playbook), shipped in the wheel.

The files here are plain TOML/JSON; README.md in this folder says how each was made.
"""
