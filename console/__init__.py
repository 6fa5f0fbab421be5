"""The operations console and the public publicity page (`mutualaid web`)."""
