"""Reports of a run folder: the document blocks, plots, Markdown/HTML output, benchmark ingestion,
run-to-run comparison and the headless-browser check.
"""
