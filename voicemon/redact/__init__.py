"""PII redaction of transcripts (DESIGN.md §12, docs/redaction.md): spoken-digit normalisation,
pattern-and-checksum rules, the per-party stage that runs right after ASR, and audio muting."""
