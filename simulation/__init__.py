"""The people around the program, simulated: applicants, reviewers, the investigation firm,
the jury, objectors and a stand-in for the period's signals, driven by a scenario (data)."""
