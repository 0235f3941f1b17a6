"""Content safety beyond words: checks on what Easel posts and accepts (no Discord import)."""
