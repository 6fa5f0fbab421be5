"""Saved histories of representative claims, replayed by test_claim_replay.py."""
