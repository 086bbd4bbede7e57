"""The pieces a report is made of: document blocks (headings, paragraphs, tables, figures) rendered to
Markdown and HTML, and the figure helpers. Sections build their parts from these.
"""
