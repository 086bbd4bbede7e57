"""Reports of a run folder: report.md and report.html built from the section CSVs, benchmark ingestion,
run-to-run comparison and the headless-browser check.
"""
