"""Evaluation helpers: transcript accuracy and escalation-detection scoring."""
